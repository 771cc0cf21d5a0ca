"""Compiled loops (Numba) for the ops whose NumPy versions pass over memory several times.

Max pooling's backward in NumPy compares every window offset with the output and masks
(four passes per offset); BatchNorm's backward makes three passes and two BLAS sums; ReLU's
backward multiplies by a stored mask; col2im adds one strided view per kernel offset, each a
NumPy call over short runs of channels. Here each is one loop that reads its inputs once, as
the formulas in ``ops/pool.py`` and ``ops/norm.py`` say. The ops call a kernel on a slice of the
batch (or of the rows) per thread (``workspace.parallel_slices``); ``nogil`` lets the threads
run at once. Sums accumulate in float64 whatever the data's dtype.

The loops live by concept in ``loops.py`` (pooling, BatchNorm, ReLU's backward, col2im,
erf), ``depthwise.py``, ``grouped.py``, ``direct.py``, ``winograd.py`` and ``activations.py``;
this package names them all. Numba leaves LLVM's SLP vectoriser (which turns straight-line
code on neighbouring values into vector code) off; the kernels named in ``SLP_KERNELS`` are
written for it and compiled with it on.
Called only through ``ops.compiled.kernels()``: this package needs Numba, which compiles each
kernel once per machine and argument kind into machine code that ``ops/kernel_objects.py``
caches and later processes load without Numba. A kernel writes its results into arrays it is
given and never raises (one that returns a value runs through Numba's dispatcher).
"""

from .activations import (  # noqa: F401 (the kernels, by name)
    clip,
    gelu_erf,
    gelu_erf_grad,
    gelu_tanh,
    gelu_tanh_grad,
    hardsigmoid,
    hardsigmoid_grad,
    hardswish,
    hardswish_grad,
    normalize_rows,
    sigmoid,
    sigmoid_grad,
    silu,
    silu_grad,
)
from .depthwise import (  # noqa: F401 (the kernels, by name)
    depthwise_2d,
    depthwise_2d_input_grad,
    depthwise_2d_weight_grad,
)
from .direct import direct_2d, direct_2d_weight_grad  # noqa: F401 (the kernels, by name)
from .grouped import (  # noqa: F401 (the kernels, by name)
    grouped_2d,
    grouped_2d_input_grad,
    grouped_2d_weight_grad,
)
from .loops import (  # noqa: F401 (the kernels, by name)
    batch_norm_input_grad,
    channel_grad_sums,
    channel_squared_deviations,
    channel_sums,
    col2im_2d,
    erf,
    max_pool_2d,
    max_pool_2d_grad,
    relu_grad,
    scale_shift,
)
from .winograd import (  # noqa: F401 (the kernels, by name)
    winograd_input,
    winograd_output,
    winograd_output_grad,
    winograd_weight,
)

SLP_KERNELS = frozenset({"direct_2d", "direct_2d_weight_grad"})
