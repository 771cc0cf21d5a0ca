"""The functional API (``gridnn.functional``, imported as ``F``): argument checks, then one op.

Names and argument order follow ``torch.nn.functional``. Shapes use N = batch, C = channels,
K = filters, L = length, H x W = height x width; 1-D ops take (N, C, L), 2-D ops (N, C, H, W).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from ._backend import xp
from .errors import ArgumentError, ArgumentTypeError
from .ops import elementwise as ew
from .ops import loss as lossops
from .ops.conv import ConvNd
from .ops.conv_plain import ConvPlain
from .ops.local import LocallyConnectedNd
from .ops.options import options
from .ops.pool import AdaptiveAvgPoolNd, AvgPoolNd, MaxPoolNd
from .ops.reduce import check_axis
from .ops.shape import Concat, Pad, check_pad
from .ops.windows import ConvGeometry, windows
from .tensor import Tensor

__all__ = [
    "adaptive_avg_pool1d", "adaptive_avg_pool2d", "avg_pool1d", "avg_pool2d",
    "binary_cross_entropy_with_logits", "concat", "conv1d", "conv2d", "conv_output_size",
    "cross_entropy", "dropout", "global_avg_pool", "leaky_relu", "linear", "locally_connected",
    "log_softmax", "max_pool1d", "max_pool2d", "mse_loss", "pad", "relu", "resolve_padding",
    "sigmoid", "softmax", "stack", "tanh", "where", "window_geometry",
]

Size = int | Sequence[int]
Padding = int | str | Sequence[int] | Sequence[Sequence[int]]
Pads = tuple[tuple[int, int], ...]
_SPATIAL = {1: "(N, C, L)", 2: "(N, C, H, W)"}
_WEIGHT = {1: "(K, C/groups, kL)", 2: "(K, C/groups, kH, kW)"}


# ---- argument checks shared by every op ------------------------------------------------------
def as_float_tensor(x: Any, name: str, op: str) -> Tensor:
    """``x`` as a Tensor with a float dtype, or a TypeError naming the argument."""
    if not isinstance(x, Tensor):
        if not isinstance(x, (xp.ndarray, list, tuple, float, int)):
            raise ArgumentTypeError(
                f"{op}: `{name}` must be a Tensor or array, received {type(x).__name__}"
            )
        x = Tensor(x) if xp.asarray(x).dtype.kind in "biuf" else Tensor._wrap(xp.asarray(x), False)
    if x.dtype.kind != "f":
        raise ArgumentTypeError(
            f"{op}: `{name}` must have a float dtype (float32 or float64), received {x.dtype}"
        )
    return x


def check_rank(x: Tensor, nd: int, name: str, op: str) -> None:
    if x.ndim != nd + 2:
        layout = (_WEIGHT if name == "weight" else _SPATIAL).get(nd, f"({nd} spatial dims)")
        raise ArgumentError(
            f"{op}: `{name}` must be {nd + 2}-D {layout}, received shape {x.shape}"
        )


def ntuple(value: Size, nd: int, name: str, op: str, minimum: int = 1) -> tuple[int, ...]:
    """An int or a length-``nd`` sequence of ints, each >= ``minimum``, as a tuple."""
    items = ((value,) * nd if isinstance(value, (int, xp.integer))
             else tuple(value) if isinstance(value, (Sequence, xp.ndarray)) else (value,))
    if len(items) != nd or not all(isinstance(v, (int, xp.integer)) and not isinstance(v, bool)
                                   for v in items):
        raise ArgumentTypeError(
            f"{op}: `{name}` must be an int or a tuple of {nd} ints, received {value!r}"
        )
    if any(v < minimum for v in items):
        kind = "positive" if minimum == 1 else "non-negative"
        raise ArgumentError(f"{op}: `{name}` must be {kind}, received {name}={value!r}")
    return tuple(int(v) for v in items)


def check_padding(padding: Padding, nd: int, op: str) -> str | tuple[Any, ...]:
    """The ``padding`` argument in its canonical form, without resolving it against a size:
    'valid' or 'same', a tuple of ``nd`` ints, or a tuple of ``nd`` (low, high) pairs."""
    if isinstance(padding, str):
        if padding not in ("valid", "same"):
            raise ArgumentError(
                f"{op}: `padding` string must be 'valid' or 'same', received {padding!r}"
            )
        return padding
    if isinstance(padding, (Sequence, xp.ndarray)) and len(padding) == nd and all(
        not isinstance(p, (int, xp.integer)) for p in padding
    ):
        return tuple(ntuple(p, 2, "padding", op, minimum=0) for p in padding)
    return ntuple(padding, nd, "padding", op, minimum=0)


def resolve_padding(padding: Padding, in_size: Sequence[int], kernel: Sequence[int],
                    stride: Sequence[int], dilation: Sequence[int], op: str) -> Pads:
    """(low, high) pads per spatial dim from an int, a tuple, (low, high) pairs, or a string.

    'valid' is no padding. 'same' gives ceil(in / stride) outputs for any stride: the total pad
    is max((out - 1) * stride + dilation * (k - 1) + 1 - in, 0), the odd one on the high side.
    """
    nd = len(in_size)
    padding = check_padding(padding, nd, op)
    if padding == "valid":
        return ((0, 0),) * nd
    if padding == "same":
        pads = []
        for n, k, s, d in zip(in_size, kernel, stride, dilation):
            total = max((math.ceil(n / s) - 1) * s + d * (k - 1) + 1 - n, 0)
            pads.append((total // 2, total - total // 2))
        return tuple(pads)
    return tuple(p if isinstance(p, tuple) else (p, p) for p in padding)


def conv_output_size(in_size: int, kernel: int, stride: int, pads: tuple[int, int],
                     dilation: int = 1) -> int:
    """floor((in + low + high - dilation * (kernel - 1) - 1) / stride) + 1."""
    return (in_size + pads[0] + pads[1] - dilation * (kernel - 1) - 1) // stride + 1


def window_geometry(shape: Sequence[int], kernel: Sequence[int], stride: Size, padding: Padding,
                    dilation: Size, padding_mode: str, op: str
                    ) -> tuple[tuple[int, ...], tuple[int, ...], Pads, tuple[int, ...]]:
    """Checked geometry of kernel windows sliding over the last ``len(kernel)`` axes of
    ``shape``: (stride, dilation, (low, high) padding, output size), one entry per spatial
    dim. Raises if an argument is invalid or a dilated kernel is larger than the padded input.
    """
    nd = len(kernel)
    stride_t = ntuple(stride, nd, "stride", op)
    dilation_t = ntuple(dilation, nd, "dilation", op)
    spatial = tuple(shape[len(shape) - nd:])
    pads = resolve_padding(padding, spatial, kernel, stride_t, dilation_t, op)
    check_pad(tuple(shape), pads, padding_mode, op)
    for i, (size, kk, d, (lo, hi)) in enumerate(zip(spatial, kernel, dilation_t, pads)):
        if d * (kk - 1) + 1 > size + lo + hi:
            raise ArgumentError(
                f"{op}: kernel size {kk} (dilation {d}, spans {d * (kk - 1) + 1}) is larger than "
                f"the padded input size {size + lo + hi} in spatial dim {i} "
                f"(input shape {tuple(shape)}, padding {(lo, hi)})"
            )
    out = tuple(conv_output_size(*args) for args in zip(spatial, kernel, stride_t, pads,
                                                          dilation_t))
    return stride_t, dilation_t, pads, out


# ---- linear and convolution ------------------------------------------------------------------
def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """x (..., in) @ weight (out, in).T + bias (out,) -> (..., out)."""
    x, weight = as_float_tensor(x, "input", "linear"), as_float_tensor(weight, "weight", "linear")
    if weight.ndim != 2 or x.ndim < 1 or x.shape[-1] != weight.shape[1]:
        raise ArgumentError(
            f"linear: input has {x.shape[-1] if x.ndim else 0} features but the weight expects "
            f"{weight.shape[1] if weight.ndim == 2 else '?'} "
            f"(input shape {x.shape}, weight shape {weight.shape})"
        )
    out = x @ weight.T
    if bias is not None:
        bias = as_float_tensor(bias, "bias", "linear")
        if bias.shape != (weight.shape[0],):
            raise ArgumentError(
                f"linear: bias must have shape ({weight.shape[0]},), received {bias.shape}"
            )
        out = out + bias
    return out


def _conv(nd: int, op: str, x: Tensor, weight: Tensor, bias: Tensor | None, stride: Size,
          padding: Padding, dilation: Size, groups: int, padding_mode: str) -> Tensor:
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
    stride_t, dilation_t, pads, out = window_geometry(x.shape, kernel, stride, padding,
                                                      dilation, padding_mode, op)
    inputs = [x, weight]
    if bias is not None:
        bias = as_float_tensor(bias, "bias", op)
        if bias.shape != (k,):
            raise ArgumentError(f"{op}: bias must have shape ({k},), received {bias.shape}")
        inputs.append(bias)
    geometry = ConvGeometry(stride_t, dilation_t, pads, padding_mode, int(groups), out)
    conv = ConvPlain if options().plain_conv else ConvNd  # see gridnn.plain_ops()
    return conv.apply(*inputs, geometry=geometry)


def conv1d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Size = 1,
           padding: Padding = 0, dilation: Size = 1, groups: int = 1,
           padding_mode: str = "zeros") -> Tensor:
    """1-D cross-correlation: x (N, C, L), weight (K, C/groups, kL), bias (K,) -> (N, K, Lout).

    Lout = floor((L + pad_lo + pad_hi - dilation * (kL - 1) - 1) / stride) + 1.
    ``padding``: int, (int,), ((lo, hi),), 'valid' or 'same' (any stride: Lout = ceil(L / stride)).
    ``padding_mode``: 'zeros', 'reflect', 'replicate' or 'circular'.
    """
    return _conv(1, "conv1d", x, weight, bias, stride, padding, dilation, groups, padding_mode)


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
    return _conv(2, "conv2d", x, weight, bias, stride, padding, dilation, groups, padding_mode)


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


# ---- pooling ---------------------------------------------------------------------------------
def _pool_geometry(nd: int, op: str, x: Tensor, kernel_size: Size, stride: Size | None,
                   padding: Size, ceil_mode: bool) -> tuple[Any, ...]:
    check_rank(x, nd, "input", op)
    kernel = ntuple(kernel_size, nd, "kernel_size", op)
    stride_t = kernel if stride is None else ntuple(stride, nd, "stride", op)
    pad = ntuple(padding, nd, "padding", op, minimum=0)
    for p, k in zip(pad, kernel):
        if p > k // 2:
            raise ArgumentError(
                f"{op}: padding {p} must be at most half the kernel size {k}"
            )
    out_size, pads = [], []
    for i, (n, k, s, p) in enumerate(zip(x.shape[2:], kernel, stride_t, pad)):
        span = n + 2 * p - k
        if span < 0:
            raise ArgumentError(
                f"{op}: kernel size {k} is larger than the padded input size {n + 2 * p} in "
                f"spatial dim {i} (input shape {x.shape})"
            )
        o = (-(-span // s) if ceil_mode else span // s) + 1
        if ceil_mode and (o - 1) * s >= n + p:  # the last window must start inside the input
            o -= 1
        out_size.append(o)
        pads.append((p, max((o - 1) * s + k - n - p, p)))
    return kernel, stride_t, tuple(pads), tuple(out_size)


def _max_pool(nd: int, op: str, x: Tensor, kernel_size: Size, stride: Size | None,
              padding: Size, ceil_mode: bool) -> Tensor:
    x = as_float_tensor(x, "input", op)
    kernel, stride_t, pads, out_size = _pool_geometry(nd, op, x, kernel_size, stride, padding,
                                                      ceil_mode)
    return MaxPoolNd.apply(x, kernel=kernel, stride=stride_t, pads=pads, out_size=out_size)


def _avg_pool(nd: int, op: str, x: Tensor, kernel_size: Size, stride: Size | None,
              padding: Size, ceil_mode: bool, count_include_pad: bool) -> Tensor:
    x = as_float_tensor(x, "input", op)
    kernel, stride_t, pads, out_size = _pool_geometry(nd, op, x, kernel_size, stride, padding,
                                                      ceil_mode)
    # Divisor per output: the window's cells inside the input (plus its zero padding when
    # count_include_pad), never the cells ceil_mode adds past the padding.
    inside = xp.zeros(tuple(n + lo + hi for n, (lo, hi) in zip(x.shape[2:], pads)), x.dtype)
    if count_include_pad:
        inside[tuple(slice(0, n + 2 * lo) for n, (lo, _) in zip(x.shape[2:], pads))] = 1
    else:
        inside[tuple(slice(lo, lo + n) for n, (lo, _) in zip(x.shape[2:], pads))] = 1
    counts = windows(inside[None, None], kernel, stride_t, (1,) * nd, out_size, 2)
    counts = counts.sum(axis=tuple(range(2 + nd, 2 + 2 * nd)))[0, 0]
    divisor: Any = float(counts.flat[0]) if (counts == counts.flat[0]).all() else counts
    return AvgPoolNd.apply(x, kernel=kernel, stride=stride_t, pads=pads, out_size=out_size,
                           divisor=divisor)


def max_pool1d(x: Tensor, kernel_size: Size, stride: Size | None = None, padding: Size = 0,
               ceil_mode: bool = False) -> Tensor:
    """Max over windows: (N, C, L) -> (N, C, Lout), Lout = floor((L + 2p - k) / s) + 1
    (ceil with ``ceil_mode``). ``stride`` defaults to ``kernel_size``; padding <= k/2."""
    return _max_pool(1, "max_pool1d", x, kernel_size, stride, padding, ceil_mode)


def max_pool2d(x: Tensor, kernel_size: Size, stride: Size | None = None, padding: Size = 0,
               ceil_mode: bool = False) -> Tensor:
    """Max over windows: (N, C, H, W) -> (N, C, Hout, Wout), Hout = floor((H + 2p - k) / s) + 1
    (ceil with ``ceil_mode``). ``stride`` defaults to ``kernel_size``; padding <= k/2."""
    return _max_pool(2, "max_pool2d", x, kernel_size, stride, padding, ceil_mode)


def avg_pool1d(x: Tensor, kernel_size: Size, stride: Size | None = None, padding: Size = 0,
               ceil_mode: bool = False, count_include_pad: bool = True) -> Tensor:
    """Mean over windows: (N, C, L) -> (N, C, Lout), sizes as ``max_pool1d``."""
    return _avg_pool(1, "avg_pool1d", x, kernel_size, stride, padding, ceil_mode,
                     count_include_pad)


def avg_pool2d(x: Tensor, kernel_size: Size, stride: Size | None = None, padding: Size = 0,
               ceil_mode: bool = False, count_include_pad: bool = True) -> Tensor:
    """Mean over windows: (N, C, H, W) -> (N, C, Hout, Wout), sizes as ``max_pool2d``."""
    return _avg_pool(2, "avg_pool2d", x, kernel_size, stride, padding, ceil_mode,
                     count_include_pad)


def _adaptive(nd: int, op: str, x: Tensor, output_size: Size) -> Tensor:
    x = as_float_tensor(x, "input", op)
    check_rank(x, nd, "input", op)
    return AdaptiveAvgPoolNd.apply(x, out_size=ntuple(output_size, nd, "output_size", op))


def adaptive_avg_pool1d(x: Tensor, output_size: Size) -> Tensor:
    """(N, C, L) -> (N, C, output_size); bin i averages floor(i*L/O) .. ceil((i+1)*L/O)."""
    return _adaptive(1, "adaptive_avg_pool1d", x, output_size)


def adaptive_avg_pool2d(x: Tensor, output_size: Size) -> Tensor:
    """(N, C, H, W) -> (N, C, oH, oW), bins as ``adaptive_avg_pool1d`` along each axis."""
    return _adaptive(2, "adaptive_avg_pool2d", x, output_size)


def global_avg_pool(x: Tensor) -> Tensor:
    """Mean over all spatial positions: (N, C, *S) -> (N, C)."""
    x = as_float_tensor(x, "input", "global_avg_pool")
    if x.ndim < 3:
        raise ArgumentError(
            f"global_avg_pool: input must be (N, C, *spatial), received shape {x.shape}"
        )
    return x.mean(axis=tuple(range(2, x.ndim)))


# ---- activations -----------------------------------------------------------------------------
def relu(x: Tensor) -> Tensor:
    """max(x, 0) element-wise; any shape, same shape out."""
    return as_float_tensor(x, "input", "relu").relu()


def leaky_relu(x: Tensor, negative_slope: float = 0.01) -> Tensor:
    """x where x > 0, else negative_slope * x; any shape, same shape out."""
    return as_float_tensor(x, "input", "leaky_relu").leaky_relu(negative_slope)


def sigmoid(x: Tensor) -> Tensor:
    """1 / (1 + e**-x) element-wise, without overflow; any shape, same shape out."""
    return as_float_tensor(x, "input", "sigmoid").sigmoid()


def tanh(x: Tensor) -> Tensor:
    """Element-wise hyperbolic tangent; any shape, same shape out."""
    return as_float_tensor(x, "input", "tanh").tanh()


def softmax(x: Tensor, dim: int = -1) -> Tensor:
    """Probabilities along ``dim`` (e.g. (N, classes) logits, dim -1); same shape out."""
    return as_float_tensor(x, "input", "softmax").softmax(dim)


def log_softmax(x: Tensor, dim: int = -1) -> Tensor:
    """log(softmax(x)) along ``dim``, computed stably; same shape out."""
    return as_float_tensor(x, "input", "log_softmax").log_softmax(dim)


def where(condition: Any, a: Any, b: Any) -> Tensor:
    """Element-wise ``a`` where ``condition`` else ``b`` (broadcasting); condition has no grad."""
    cond = xp.asarray(condition.data if isinstance(condition, Tensor) else condition, dtype=bool)
    ref = a if isinstance(a, Tensor) else b if isinstance(b, Tensor) else Tensor(a)
    return ew.Where.apply(ref._lift(a), ref._lift(b), cond=cond)


def dropout(x: Tensor, p: float = 0.5, training: bool = True,
            rng: xp.random.Generator | None = None) -> Tensor:
    """Zero each element with probability ``p`` and scale the rest by 1/(1-p) (when training)."""
    if not 0 <= p <= 1:
        raise ArgumentError(f"dropout: `p` must be in [0, 1], received p={p!r}")
    if not training or p == 0:
        return x
    if p == 1:
        return x * 0.0
    rng = rng if rng is not None else xp.random.default_rng()
    keep = rng.random(x.shape, dtype=xp.float32) >= p
    return x * (keep * x.dtype.type(1.0 / (1.0 - p)))


# ---- padding and joining --------------------------------------------------------------------
def pad(t: Tensor, pad: Sequence[int], mode: str = "constant", value: float = 0.0) -> Tensor:
    """Pad the last axes, PyTorch-style: ``pad=(left, right)`` pads the last axis,
    ``(left, right, top, bottom)`` the last two, and so on. Modes: constant (zeros), reflect,
    replicate, circular. (..., *S) -> (..., *Sp)."""
    if len(pad) % 2 or len(pad) // 2 > t.ndim:
        raise ArgumentError(
            f"pad: expected an even number of pad sizes, at most 2 per axis of the "
            f"{t.ndim}-D input, received {tuple(pad)}"
        )
    if mode != "constant" and value != 0:
        raise ArgumentError(f"pad: value={value} is only allowed with mode='constant'")
    pairs = [(int(pad[i]), int(pad[i + 1])) for i in range(0, len(pad), 2)][::-1]
    check_pad(t.shape, pairs, mode, "pad")
    full = ((0, 0),) * (t.ndim - len(pairs)) + tuple(pairs)
    return Pad.apply(t, pads=full, mode=mode, value=value)


def concat(tensors: Sequence[Tensor], axis: int = 0) -> Tensor:
    """Join tensors of equal shape except along ``axis``."""
    tensors = _check_tensors(tensors, "concat")
    ax = check_axis(axis, tensors[0].ndim, "concat")
    ref = tensors[0].shape
    for i, t in enumerate(tensors):
        mismatch = any(a != b for j, (a, b) in enumerate(zip(t.shape, ref)) if j != ax)
        if t.ndim != len(ref) or mismatch:
            raise ArgumentError(
                f"concat: tensor {i} has shape {t.shape}, which does not match {ref} "
                f"outside axis {ax}"
            )
    return Concat.apply(*tensors, axis=ax)


def stack(tensors: Sequence[Tensor], axis: int = 0) -> Tensor:
    """Join equal-shaped tensors along a new axis."""
    tensors = _check_tensors(tensors, "stack")
    shapes = {t.shape for t in tensors}
    if len(shapes) != 1:
        raise ArgumentError(f"stack: all tensors must have one shape, received {sorted(shapes)}")
    ax = check_axis(axis, tensors[0].ndim + 1, "stack")
    return concat([t.reshape(*t.shape[:ax], 1, *t.shape[ax:]) for t in tensors], axis=ax)


def _check_tensors(tensors: Sequence[Any], op: str) -> list[Tensor]:
    tensors = list(tensors)
    if not tensors:
        raise ArgumentError(f"{op}: expected at least one tensor, received none")
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise ArgumentTypeError(f"{op}: item {i} must be a Tensor, received {type(t).__name__}")
    return tensors


# ---- losses ----------------------------------------------------------------------------------
_REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(reduction: str, op: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ArgumentError(
            f"{op}: `reduction` must be one of {_REDUCTIONS}, received {reduction!r}"
        )


def cross_entropy(logits: Tensor, target: Any, label_smoothing: float = 0.0,
                  reduction: str = "mean") -> Tensor:
    """Softmax cross-entropy: logits (N, C) or (N, C, *d), integer classes (N,) or (N, *d).

    With label smoothing eps the target distribution is (1 - eps) * onehot + eps / C.
    Returns a scalar (mean or sum) or, with reduction='none', the per-sample losses (N, *d).
    """
    op = "cross_entropy"
    logits = as_float_tensor(logits, "input", op)
    _check_reduction(reduction, op)
    t = xp.asarray(target.data if isinstance(target, Tensor) else target)
    if t.dtype.kind not in "iu":
        raise ArgumentTypeError(
            f"{op}: `target` must hold integer class indices, received dtype {t.dtype}"
        )
    if logits.ndim < 2 or t.shape != (logits.shape[0], *logits.shape[2:]):
        raise ArgumentError(
            f"{op}: target shape {t.shape} does not match input shape {logits.shape} "
            f"(expected input (N, C, *d) and target (N, *d))"
        )
    c = logits.shape[1]
    if t.size and (t.min() < 0 or t.max() >= c):
        bad = t.min() if t.min() < 0 else t.max()
        raise ArgumentError(f"{op}: target class {bad} is outside [0, {c - 1}] for {c} classes")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ArgumentError(
            f"{op}: `label_smoothing` must be in [0, 1], received {label_smoothing!r}"
        )
    flat = logits
    if logits.ndim > 2:  # (N, C, *d) -> (N * prod(d), C)
        flat = logits.permute(0, *range(2, logits.ndim), 1).reshape(-1, c)
    out = lossops.CrossEntropy.apply(flat, Tensor._wrap(t.reshape(-1), False),
                                     label_smoothing=float(label_smoothing), reduction=reduction)
    return out.reshape(t.shape) if reduction == "none" else out


def _pair(input: Any, target: Any, op: str) -> tuple[Tensor, Tensor]:
    input = as_float_tensor(input, "input", op)
    target = input._lift(target) if not isinstance(target, Tensor) else target
    target = as_float_tensor(target, "target", op)
    if input.shape != target.shape:
        raise ArgumentError(
            f"{op}: input shape {input.shape} and target shape {target.shape} must be equal"
        )
    return input, target


def mse_loss(input: Tensor, target: Any, reduction: str = "mean") -> Tensor:
    """Mean squared error between equal-shaped tensors."""
    _check_reduction(reduction, "mse_loss")
    input, target = _pair(input, target, "mse_loss")
    sq = (input - target) ** 2
    return sq.mean() if reduction == "mean" else sq.sum() if reduction == "sum" else sq


def binary_cross_entropy_with_logits(input: Tensor, target: Any,
                                     reduction: str = "mean") -> Tensor:
    """Sigmoid + binary cross-entropy in one stable step; target values in [0, 1]."""
    op = "binary_cross_entropy_with_logits"
    _check_reduction(reduction, op)
    input, target = _pair(input, target, op)
    return lossops.BCEWithLogits.apply(input, target, reduction=reduction)

