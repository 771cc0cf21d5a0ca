"""Linear, convolution and locally connected ops: argument checks, then one op.

``conv1d``/``conv2d`` run ``ops.conv.ConvNd`` (the fast convolution) or, inside
``gridnn.plain_ops()``, ``ops.conv_plain.ConvPlain`` (the lecture's); both compute the same.
"""

from __future__ import annotations

import functools

from .._backend import xp
from ..errors import ArgumentError, ArgumentTypeError
from ..ops.conv import ConvNd, Then
from ..ops.conv_plain import ConvPlain
from ..ops.linalg import MatMul
from ..ops.local import LocallyConnectedNd
from ..ops.options import options
from ..ops.windows import ConvGeometry
from ..tensor import Tensor
from .checks import Padding, Size, as_float_tensor, check_rank, finish, window_geometry


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """x (..., in) @ weight (out, in).T + bias (out,) -> (..., out)."""
    x, weight = as_float_tensor(x, "input", "linear"), as_float_tensor(weight, "weight", "linear")
    if weight.ndim != 2 or x.ndim < 1 or x.shape[-1] != weight.shape[1]:
        raise ArgumentError(
            f"linear: input has {x.shape[-1] if x.ndim else 0} features but the weight expects "
            f"{weight.shape[1] if weight.ndim == 2 else '?'} "
            f"(input shape {x.shape}, weight shape {weight.shape})"
        )
    if x.ndim > 2:  # one (M, in) @ (in, out) GEMM: NumPy loops over stacked small products;
        # its rows are N samples' (how batch 1 is threaded: ``workspace.dot``)
        out = MatMul.apply(x.reshape(-1, x.shape[-1]), weight.T, samples=x.shape[0]).reshape(
            *x.shape[:-1], weight.shape[0])
    else:
        out = x @ weight.T
    if bias is not None:
        bias = as_float_tensor(bias, "bias", "linear")
        if bias.shape != (weight.shape[0],):
            raise ArgumentError(
                f"linear: bias must have shape ({weight.shape[0]},), received {bias.shape}"
            )
        out = finish(out, bias, "add")
    return out


# A model calls each layer with the same arguments every time: its checked geometry is kept
# (a few tens of microseconds per call, which add up over a MobileNet's 50 layers at batch 1).
_known_geometry = functools.lru_cache(maxsize=1024)(window_geometry)


def conv_nd(nd: int, x: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Size = 1,
            padding: Padding = 0, dilation: Size = 1, groups: int = 1,
            padding_mode: str = "zeros", *, then: Then | None = None) -> Tensor:
    """``conv1d`` (nd = 1) or ``conv2d`` (nd = 2). ``then(src, dst)``: for inference, a
    function that writes into ``dst`` the final values of ``src``, each (rows, K) channels-last
    block of the output as it is computed, while it is in cache (``ops.conv.ConvNd``): the
    activation after the convolution, which ``gridnn.onnx``'s graphs hand over under
    ``no_grad``. Not with ``gridnn.plain_ops()``."""
    op = f"conv{nd}d"
    x, weight = as_float_tensor(x, "input", op), as_float_tensor(weight, "weight", op)
    check_rank(x, nd, "input", op)
    check_rank(weight, nd, "weight", op)
    if x.dtype != weight.dtype:
        raise ArgumentTypeError(
            f"{op}: input dtype {x.dtype} and weight dtype {weight.dtype} differ; cast one"
        )
    if not isinstance(groups, (int, xp.integer)) or isinstance(groups, bool) or groups < 1:
        raise ArgumentError(f"{op}: `groups` must be a positive int, received groups={groups!r}")
    n, c = x.shape[:2]
    k = weight.shape[0]
    if c % groups or k % groups:
        raise ArgumentError(
            f"{op}: groups={groups} must divide both the input channels ({c}) and the "
            f"filters ({k})"
        )
    if weight.shape[1] * groups != c:
        raise ArgumentError(
            f"{op}: input has {c} channel{'s' if c != 1 else ''} but the weight expects "
            f"{weight.shape[1] * groups} (input shape {x.shape}, weight shape {weight.shape}"
            f"{f', groups={groups}' if groups != 1 else ''})"
        )
    kernel = weight.shape[2:]
    if min(weight.shape) < 1:
        raise ArgumentError(
            f"{op}: `weight` must have at least one filter, channel and kernel element per "
            f"dim, received weight shape {weight.shape}"
        )
    args = (x.shape, kernel, stride, padding, dilation, padding_mode, op)
    try:
        stride_t, dilation_t, pads, out = _known_geometry(*args)
    except TypeError:  # an unhashable argument (a list): checked afresh
        stride_t, dilation_t, pads, out = window_geometry(*args)
    inputs = [x, weight]
    if bias is not None:
        bias = as_float_tensor(bias, "bias", op)
        if bias.shape != (k,):
            raise ArgumentError(f"{op}: bias must have shape ({k},), received {bias.shape}")
        inputs.append(bias)
    geometry = ConvGeometry(stride_t, dilation_t, pads, padding_mode, int(groups), out)
    if options().plain_conv:  # see gridnn.plain_ops()
        if then is not None:
            raise ArgumentError(f"{op}: `then` needs the fast convolution, not plain_ops()")
        return ConvPlain.apply(*inputs, geometry=geometry)
    return ConvNd.apply(*inputs, geometry=geometry, then=then)


def conv1d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Size = 1,
           padding: Padding = 0, dilation: Size = 1, groups: int = 1,
           padding_mode: str = "zeros") -> Tensor:
    """1-D cross-correlation: x (N, C, L), weight (K, C/groups, kL), bias (K,) -> (N, K, Lout).

    Lout = floor((L + pad_lo + pad_hi - dilation * (kL - 1) - 1) / stride) + 1.
    ``padding``: int, (int,), ((lo, hi),), 'valid' or 'same' (any stride: Lout = ceil(L / stride)).
    ``padding_mode``: 'zeros', 'reflect', 'replicate' or 'circular'.
    """
    return conv_nd(1, x, weight, bias, stride, padding, dilation, groups, padding_mode)


def conv2d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Size = 1,
           padding: Padding = 0, dilation: Size = 1, groups: int = 1,
           padding_mode: str = "zeros") -> Tensor:
    """2-D cross-correlation: x (N, C, H, W), weight (K, C/groups, kH, kW), bias (K,)
    -> (N, K, Hout, Wout).

    Hout = floor((H + pad_top + pad_bottom - dilation[0] * (kH - 1) - 1) / stride[0]) + 1, and
    likewise Wout. ``padding``: int, (pH, pW), ((top, bottom), (left, right)), 'valid' or 'same'
    ('same' works with any stride: Hout = ceil(H / stride[0]), the extra pad at the bottom/right).
    ``padding_mode``: 'zeros', 'reflect', 'replicate' or 'circular'.
    """
    return conv_nd(2, x, weight, bias, stride, padding, dilation, groups, padding_mode)


def locally_connected(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Size = 1,
                      padding: Padding = 0, dilation: Size = 1,
                      padding_mode: str = "zeros") -> Tensor:
    """Locally connected layer as a function: x (N, C, *S), weight (*O, K, C, *k), bias (*O, K)
    or (K,) or None -> (N, K, *O).

    ``stride``, ``padding`` ('valid', 'same', ints or (lo, hi) pairs), ``dilation`` and
    ``padding_mode`` mean what they mean for ``F.conv2d``; the output size they give must equal
    the weight's leading dims ``O``.
    """
    op = "locally_connected"
    x, weight = as_float_tensor(x, "input", op), as_float_tensor(weight, "weight", op)
    if weight.ndim not in (4, 6):
        raise ArgumentError(
            f"{op}: `weight` must be (*O, K, C, *k) with 1 or 2 spatial dims (4-D or 6-D), "
            f"received shape {weight.shape}"
        )
    nd = (weight.ndim - 2) // 2
    check_rank(x, nd, "input", op)
    if x.dtype != weight.dtype:
        raise ArgumentTypeError(
            f"{op}: input dtype {x.dtype} and weight dtype {weight.dtype} differ; cast one"
        )
    out_size, k_out, c, kernel = weight.shape[:nd], weight.shape[nd], weight.shape[nd + 1], \
        weight.shape[nd + 2:]
    if x.shape[1] != c:
        raise ArgumentError(
            f"{op}: input has {x.shape[1]} channels but the weight expects {c} "
            f"(input shape {x.shape}, weight shape {weight.shape})"
        )
    stride_t, dilation_t, pads, expected = window_geometry(x.shape, kernel, stride, padding,
                                                           dilation, padding_mode, op)
    if expected != tuple(out_size):
        raise ArgumentError(
            f"{op}: input spatial size {x.shape[2:]} gives output size {expected}, but the "
            f"weight holds kernels for output size {tuple(out_size)} (weight shape "
            f"{weight.shape}); a locally connected layer fixes its input size"
        )
    inputs = [x, weight]
    if bias is not None:
        bias = as_float_tensor(bias, "bias", op)
        if bias.shape not in ((k_out,), (*out_size, k_out)):
            raise ArgumentError(
                f"{op}: bias must have shape {(*out_size, k_out)} (per position) or ({k_out},) "
                f"(per channel), received {bias.shape}"
            )
        inputs.append(bias)
    geometry = ConvGeometry(stride_t, dilation_t, pads, padding_mode, 1, expected)
    return LocallyConnectedNd.apply(*inputs, geometry=geometry)
