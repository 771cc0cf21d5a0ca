"""The functional API (``gridnn.functional``, imported as ``F``): argument checks, then one op.

Names and argument order follow ``torch.nn.functional``. Shapes use N = batch, C = channels,
K = filters, L = length, H x W = height x width; 1-D ops take (N, C, L), 2-D ops (N, C, H, W).
One module a family: ``conv`` (linear, convolution, locally connected), ``pool``,
``activation``, ``shape`` (pad, concat, stack), ``loss``; ``checks`` holds the argument checks
they share with the layers.
"""

from .activation import (
    clip,
    dropout,
    elu,
    erf,
    gelu,
    hardsigmoid,
    hardswish,
    hardtanh,
    leaky_relu,
    log_softmax,
    prelu,
    relu,
    relu6,
    sigmoid,
    silu,
    softmax,
    softplus,
    tanh,
    where,
)
from .checks import (
    as_float_tensor,
    check_padding,
    check_rank,
    conv_output_size,
    ntuple,
    resolve_padding,
    window_geometry,
)
from .conv import conv1d, conv2d, conv_nd, linear, locally_connected
from .conv_transpose import conv_transpose1d, conv_transpose2d
from .loss import binary_cross_entropy_with_logits, cross_entropy, mse_loss
from .norm import group_norm, layer_norm
from .pool import (
    adaptive_avg_pool1d,
    adaptive_avg_pool2d,
    avg_pool1d,
    avg_pool2d,
    global_avg_pool,
    max_pool1d,
    max_pool2d,
)
from .resize import interpolate
from .shape import concat, pad, stack

__all__ = [
    "adaptive_avg_pool1d", "adaptive_avg_pool2d", "as_float_tensor", "avg_pool1d", "avg_pool2d",
    "binary_cross_entropy_with_logits", "check_padding", "check_rank", "concat", "conv1d",
    "conv2d", "conv_nd", "conv_output_size", "cross_entropy", "dropout", "global_avg_pool",
    "leaky_relu", "linear", "locally_connected", "log_softmax", "max_pool1d", "max_pool2d",
    "mse_loss", "ntuple", "pad", "relu", "resolve_padding", "sigmoid", "softmax", "stack", "tanh",
    "where", "window_geometry", "clip", "conv_transpose1d", "conv_transpose2d", "elu", "erf",
    "gelu", "group_norm", "hardsigmoid", "hardswish", "hardtanh", "interpolate", "layer_norm",
    "prelu", "relu6", "silu", "softplus",
]
