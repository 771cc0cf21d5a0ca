"""Transposed convolutions (``conv_transpose1d/2d``): argument checks, then one op
(``ops.conv_transpose``, the convolution run backwards)."""

from __future__ import annotations

from typing import Any

from ..errors import ArgumentError, ArgumentTypeError
from ..ops.conv_transpose import ConvTransposePlain
from ..ops.windows import ConvGeometry
from ..tensor import Tensor
from .checks import Size, as_float_tensor, check_rank, ntuple


def _pairs(padding: Any, nd: int, op: str) -> tuple[tuple[int, int], ...]:
    """int, nd ints, or nd (low, high) pairs of non-negative ints -> (low, high) pairs."""
    if isinstance(padding, (tuple, list)) and len(padding) == nd and all(
            isinstance(p, (tuple, list)) for p in padding):
        pairs = tuple((int(lo), int(hi)) for lo, hi in padding)
        if min(min(p) for p in pairs) < 0:
            raise ArgumentError(f"{op}: `padding` must be non-negative, received {padding!r}")
        return pairs
    return tuple((p, p) for p in ntuple(padding, nd, "padding", op, minimum=0))


def conv_transpose_output_size(in_size: int, kernel: int, stride: int, pads: tuple[int, int],
                               dilation: int = 1, output_padding: int = 0) -> int:
    """(in - 1) * stride - low - high + dilation * (kernel - 1) + output_padding + 1."""
    return (in_size - 1) * stride - pads[0] - pads[1] + dilation * (kernel - 1) + \
        output_padding + 1


def _conv_transpose(nd: int, op: str, x: Tensor, weight: Tensor, bias: Tensor | None,
                    stride: Size, padding: Any, output_padding: Size, groups: int,
                    dilation: Size) -> Tensor:
    x, weight = as_float_tensor(x, "input", op), as_float_tensor(weight, "weight", op)
    check_rank(x, nd, "input", op)
    check_rank(weight, nd, "weight", op)
    if x.dtype != weight.dtype:
        raise ArgumentTypeError(f"{op}: input dtype {x.dtype} and weight dtype {weight.dtype} "
                                f"differ; cast one")
    if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1:
        raise ArgumentError(f"{op}: `groups` must be a positive int, received groups={groups!r}")
    c_in, kernel = x.shape[1], weight.shape[2:]
    if weight.shape[0] != c_in or c_in % groups or min(weight.shape) < 1:
        raise ArgumentError(f"{op}: input has {c_in} channels but the weight (C_in, "
                            f"C_out/groups, *k) has shape {weight.shape} (groups={groups})")
    stride_t = ntuple(stride, nd, "stride", op)
    dilation_t = ntuple(dilation, nd, "dilation", op)
    extra = ntuple(output_padding, nd, "output_padding", op, minimum=0)
    pairs = _pairs(padding, nd, op)
    for e, s, d in zip(extra, stride_t, dilation_t):
        if e >= max(s, d):
            raise ArgumentError(f"{op}: output_padding {extra} must be smaller than the stride "
                                f"or the dilation in every dim (stride {stride_t}, dilation "
                                f"{dilation_t})")
    out = tuple(conv_transpose_output_size(n, k, s, p, d, e) for n, k, s, p, d, e in
                zip(x.shape[2:], kernel, stride_t, pairs, dilation_t, extra))
    if min(out) < 1:
        raise ArgumentError(f"{op}: input spatial size {x.shape[2:]} gives output size {out}; "
                            f"the padding {pairs} is too large")
    inputs = [x, weight]
    if bias is not None:
        bias = as_float_tensor(bias, "bias", op)
        if bias.shape != (weight.shape[1] * groups,):
            raise ArgumentError(f"{op}: bias must have shape ({weight.shape[1] * groups},), "
                                f"received {bias.shape}")
        inputs.append(bias)
    pads = tuple((lo, hi + e) for (lo, hi), e in zip(pairs, extra))
    geometry = ConvGeometry(stride_t, dilation_t, pads, "zeros", groups, tuple(x.shape[2:]))
    return ConvTransposePlain.apply(*inputs, geometry=geometry, out_size=out)


def conv_transpose1d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Size = 1,
                     padding: Any = 0, output_padding: Size = 0, groups: int = 1,
                     dilation: Size = 1) -> Tensor:
    """1-D transposed convolution (the input gradient of conv1d, as a layer): x (N, C_in, L),
    weight (C_in, C_out/groups, kL), bias (C_out,) -> (N, C_out, Lout),
    Lout = (L - 1) * stride - 2 * padding + dilation * (kL - 1) + output_padding + 1."""
    return _conv_transpose(1, "conv_transpose1d", x, weight, bias, stride, padding,
                           output_padding, groups, dilation)


def conv_transpose2d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Size = 1,
                     padding: Any = 0, output_padding: Size = 0, groups: int = 1,
                     dilation: Size = 1) -> Tensor:
    """2-D transposed convolution (the input gradient of conv2d, as a layer): x (N, C_in, H, W),
    weight (C_in, C_out/groups, kH, kW), bias (C_out,) -> (N, C_out, Hout, Wout),
    Hout = (H - 1) * stride[0] - 2 * padding[0] + dilation[0] * (kH - 1) + output_padding[0]
    + 1, likewise Wout. ``padding`` may also be (low, high) pairs per dim."""
    return _conv_transpose(2, "conv_transpose2d", x, weight, bias, stride, padding,
                           output_padding, groups, dilation)
