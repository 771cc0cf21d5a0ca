"""Reading a playground request: every field checked before an array is allocated, and every
refusal worded for a student ("the kernel (7x7) is larger than the input (4x4); make it at most
4x4 or add padding"), not in the library's internal terms. The page shows the text as it is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import GridnnError
from ..explain import conv_map, local_map
from ..explain.dense import LinearMap
from .http import ApiError, get_array, get_bool, get_int, get_shape

MAX_CHANNELS, MAX_KERNELS, MAX_KERNEL_SIDE = 3, 12, 7
MIN_LENGTH_1D, MAX_LENGTH_1D, MAX_SIDE_2D = 3, 64, 32
MAX_STRIDE, MAX_DILATION, MAX_PADDING = 8, 6, 7
MAX_VALUE = 1e6


@dataclass(frozen=True)
class Problem:
    """A checked playground request: x (C, *S), kernels (K, C, *k), bias (K,), and without
    sharing optionally each output position's own kernels, local (*O, K, C, *k)."""

    x: np.ndarray
    kernels: np.ndarray
    bias: np.ndarray
    stride: int
    padding: str | int
    dilation: int
    share: bool
    local: np.ndarray | None = None

    @property
    def dims(self) -> int:
        return self.x.ndim - 1


def _x(sizes) -> str:
    return "x".join(map(str, sizes))


def _check_values(arr: np.ndarray, field: str, what: str) -> None:
    if arr.size and np.abs(arr).max() > MAX_VALUE:
        raise ApiError(400, field, f"{what} must lie between -{MAX_VALUE:g} and {MAX_VALUE:g}; "
                                   f"one is {arr.flat[np.abs(arr).argmax()]:g}")


def _read_input(body: dict) -> np.ndarray:
    limit = MAX_CHANNELS * max(MAX_SIDE_2D ** 2, MAX_LENGTH_1D)
    # The size checks below run on the shape; a request over 4x the limits is refused here.
    shape = get_shape(body, "input", max_size=16 * limit, ndim=(2, 3))
    if shape[0] > MAX_CHANNELS:
        raise ApiError(400, "input", f"the input can have at most {MAX_CHANNELS} channels "
                                     f"(this one has {shape[0]})")
    if len(shape) == 2 and not MIN_LENGTH_1D <= shape[1] <= MAX_LENGTH_1D:
        raise ApiError(400, "input", f"a 1-D input must be {MIN_LENGTH_1D} to {MAX_LENGTH_1D} "
                                     f"long (this one is {shape[1]}); choose a length in "
                                     f"that range")
    if len(shape) == 3 and max(shape[1:]) > MAX_SIDE_2D:
        raise ApiError(400, "input", f"the input can be at most {MAX_SIDE_2D}x{MAX_SIDE_2D} "
                                     f"(this one is {_x(shape[1:])}); use at most "
                                     f"{MAX_SIDE_2D} rows and {MAX_SIDE_2D} columns")
    x = get_array(body, "input", max_size=limit, ndim=(len(shape),))
    _check_values(x, "input", "input values")
    return x


def _read_kernels(body: dict, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    nd = x.ndim - 1
    limit = MAX_KERNELS * MAX_CHANNELS * MAX_KERNEL_SIDE ** nd
    k, c, *size = get_shape(body, "kernels", max_size=limit, ndim=(nd + 2,))
    if k > MAX_KERNELS:
        raise ApiError(400, "kernels", f"there can be at most {MAX_KERNELS} kernels "
                                       f"(there are {k})")
    if c != x.shape[0]:
        raise ApiError(400, "kernels", f"each kernel needs one slice per input channel: the "
                                       f"input has {x.shape[0]}, the kernels have {c}")
    if max(size) > MAX_KERNEL_SIDE:
        raise ApiError(400, "kernels", f"a kernel side can be at most {MAX_KERNEL_SIDE} (these "
                                       f"are {_x(size)})")
    kernels = get_array(body, "kernels", max_size=limit, ndim=(nd + 2,))
    _check_values(kernels, "kernels", "kernel weights")
    if body.get("bias") is None:
        return kernels, np.zeros(k)
    bias = get_array(body, "bias", max_size=MAX_KERNELS, ndim=(1,))
    if bias.shape != (k,):
        raise ApiError(400, "bias", f"there must be one bias per kernel ({k}), got {bias.size}")
    _check_values(bias, "bias", "biases")
    return kernels, bias


def _read_padding(body: dict) -> str | int:
    value = body.get("padding", "valid")
    if value in ("valid", "same"):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_PADDING:
        raise ApiError(400, "padding", f"padding must be 'valid', 'same' or a whole number "
                                       f"from 0 to {MAX_PADDING}, got {value!r}")
    return value


def widest_kernel(p: Problem) -> tuple[int, ...]:
    """Per spatial dim, the largest kernel side that fits the input with this padding and
    dilation ('same' pads as much as any kernel needs)."""
    if p.padding == "same":
        return (MAX_KERNEL_SIDE,) * p.dims
    pad = 0 if p.padding == "valid" else p.padding
    return tuple(min(MAX_KERNEL_SIDE, (n + 2 * pad - 1) // p.dilation + 1)
                 for n in p.x.shape[1:])


def _check_fits(p: Problem) -> None:
    """Refuse a (dilated) kernel wider than the (padded) input, in the student's words."""
    spatial, kernel = p.x.shape[1:], p.kernels.shape[2:]
    pad = 0 if p.padding in ("valid", "same") else p.padding
    if p.padding == "same":
        return  # 'same' pads as much as the kernel needs
    room = tuple(n + 2 * pad for n in spatial)
    span = tuple(p.dilation * (k - 1) + 1 for k in kernel)
    if all(s <= r for s, r in zip(span, room)):
        return
    widest = tuple((r - 1) // p.dilation + 1 for r in room)
    what = f"the kernel ({_x(kernel)})"
    if p.dilation > 1:
        what = f"the kernel ({_x(kernel)}, spread by dilation {p.dilation} over {_x(span)})"
    where = f"the input ({_x(spatial)})"
    if pad:
        where = f"the padded input ({_x(room)}: {_x(spatial)} plus padding {pad} on each side)"
    fix = f"make it at most {_x(widest)}"
    fix += ", lower the dilation" if p.dilation > 1 else ""
    raise ApiError(400, "kernels", f"{what} is larger than {where}; {fix} or add padding")


def _read_local(body: dict, p: Problem) -> np.ndarray | None:
    """Without sharing: each output position's own kernels (*O, K, C, *k), if sent."""
    if p.share or body.get("local_kernels") is None:
        return None
    out = conv_map(p.kernels, None, p.x.shape, stride=p.stride, padding=p.padding,
                   dilation=p.dilation).out_shape[1:]
    want = (*out, *p.kernels.shape)
    limit = math.prod(want)
    if limit > 64 * 1024:
        raise ApiError(400, "local_kernels", "without sharing, kernels can be edited per "
                                             "position only up to 65536 weights; make the "
                                             "input or the kernels smaller")
    shape = get_shape(body, "local_kernels", max_size=limit, ndim=(len(want),))
    if shape != want:
        raise ApiError(400, "local_kernels", f"`local_kernels` must have shape {list(want)} "
                                             f"(output positions, kernels, channels, kernel), "
                                             f"got {list(shape)}")
    local = get_array(body, "local_kernels", max_size=limit, ndim=(len(want),))
    _check_values(local, "local_kernels", "kernel weights")
    return local


def read_problem(body: dict) -> Problem:
    """Check every field of a playground request (400 ApiError naming the field, worded for
    the page's reader)."""
    x = _read_input(body)
    kernels, bias = _read_kernels(body, x)
    p = Problem(x, kernels, bias, get_int(body, "stride", default=1, lo=1, hi=MAX_STRIDE),
                _read_padding(body),
                get_int(body, "dilation", default=1, lo=1, hi=MAX_DILATION),
                get_bool(body, "share", default=True))
    _check_fits(p)
    local = _read_local(body, p)
    return p if local is None else Problem(**{**p.__dict__, "local": local})


def linear_map_of(p: Problem) -> LinearMap:
    """The layer as gridnn.explain sees it: a conv map, or without sharing the locally
    connected map (each position's own kernels, by default copies of the shared one)."""
    try:
        if p.share:
            return conv_map(p.kernels, p.bias, p.x.shape, stride=p.stride, padding=p.padding,
                            dilation=p.dilation)
        weight = p.local
        if weight is None:
            out = conv_map(p.kernels, None, p.x.shape, stride=p.stride, padding=p.padding,
                           dilation=p.dilation).out_shape[1:]
            weight = np.broadcast_to(p.kernels, (*out, *p.kernels.shape))
        return local_map(weight, p.bias, p.x.shape, stride=p.stride, padding=p.padding,
                         dilation=p.dilation)
    except GridnnError as exc:  # a case _check_fits does not foresee: still say what was sent
        raise ApiError(400, "kernels", f"these settings cannot be computed: {exc}") from None
