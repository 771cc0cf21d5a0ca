"""Bad input: every check raises ArgumentError (a ValueError) or ArgumentTypeError (a TypeError)
whose message names the argument, what was expected and what was received."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import gridnn as gn
import gridnn.functional as F

X = gn.tensor(np.ones((2, 3, 8, 8)))  # (N, C, H, W)
W = gn.tensor(np.ones((4, 3, 3, 3)))  # (K, C, kH, kW)
X1 = gn.tensor(np.ones((2, 3, 8)))  # (N, C, L)
W1 = gn.tensor(np.ones((4, 3, 3)))  # (K, C, kL)
LOGITS = gn.tensor(np.zeros((2, 3)))
VALUE, TYPE = gn.ArgumentError, gn.ArgumentTypeError

# (id, call, error class, regex the message must match)
BAD: list[tuple[str, Callable[[], Any], type[Exception], str]] = [
    # wrong rank
    ("conv2d_input_rank", lambda: F.conv2d(X1, W), VALUE,
     r"conv2d: `input` must be 4-D \(N, C, H, W\), received shape \(2, 3, 8\)"),
    ("conv1d_input_rank", lambda: F.conv1d(X, W1), VALUE,
     r"conv1d: `input` must be 3-D \(N, C, L\), received shape \(2, 3, 8, 8\)"),
    ("conv2d_weight_rank", lambda: F.conv2d(X, W1), VALUE,
     r"conv2d: `weight` must be 4-D \(K, C/groups, kH, kW\), received shape \(4, 3, 3\)"),
    ("max_pool2d_rank", lambda: F.max_pool2d(X1, 2), VALUE,
     r"max_pool2d: `input` must be 4-D .*received shape \(2, 3, 8\)"),
    ("avg_pool1d_rank", lambda: F.avg_pool1d(X, 2), VALUE,
     r"avg_pool1d: `input` must be 3-D .*received shape \(2, 3, 8, 8\)"),
    ("adaptive_rank", lambda: F.adaptive_avg_pool1d(X, 2), VALUE,
     r"adaptive_avg_pool1d: `input` must be 3-D"),
    ("global_avg_pool_rank", lambda: F.global_avg_pool(LOGITS), VALUE,
     r"global_avg_pool: input must be \(N, C, \*spatial\), received shape \(2, 3\)"),
    # channel mismatch: both shapes in the message
    ("channel_mismatch", lambda: F.conv2d(gn.tensor(np.ones((2, 1, 8, 8))), W), VALUE,
     r"conv2d: input has 1 channel but the weight expects 3 "
     r"\(input shape \(2, 1, 8, 8\), weight shape \(4, 3, 3, 3\)\)"),
    ("channel_mismatch_groups",
     lambda: F.conv2d(gn.tensor(np.ones((2, 4, 8, 8))), gn.tensor(np.ones((4, 1, 3, 3))), groups=2),
     VALUE, r"input has 4 channels but the weight expects 2 \(input shape \(2, 4, 8, 8\), "
            r"weight shape \(4, 1, 3, 3\), groups=2\)"),
    ("linear_features", lambda: F.linear(LOGITS, gn.tensor(np.ones((4, 5)))), VALUE,
     r"linear: input has 3 features but the weight expects 5 \(input shape \(2, 3\), "
     r"weight shape \(4, 5\)\)"),
    # groups
    ("groups_not_dividing_channels", lambda: F.conv2d(X, W, groups=2), VALUE,
     r"groups=2 must divide both the input channels \(3\) and the filters \(4\)"),
    ("groups_not_dividing_filters",
     lambda: F.conv2d(gn.tensor(np.ones((1, 4, 5, 5))), gn.tensor(np.ones((3, 2, 3, 3))),
                      groups=2), VALUE, r"must divide .*channels \(4\) and the filters \(3\)"),
    ("groups_zero", lambda: F.conv2d(X, W, groups=0), VALUE,
     r"`groups` must be a positive int, received groups=0"),
    # kernel larger than the padded input
    ("kernel_too_large", lambda: F.conv2d(gn.tensor(np.ones((1, 3, 2, 5))), W), VALUE,
     r"kernel size 3 \(dilation 1, spans 3\) is larger than the padded input size 2 in spatial "
     r"dim 0 \(input shape \(1, 3, 2, 5\), padding \(0, 0\)\)"),
    ("dilated_kernel_too_large", lambda: F.conv1d(X1, W1, dilation=4, padding=((0, 0),)), VALUE,
     r"kernel size 3 \(dilation 4, spans 9\) is larger than the padded input size 8"),
    ("pool_kernel_too_large", lambda: F.max_pool2d(X, 9), VALUE,
     r"max_pool2d: kernel size 9 is larger than the padded input size 8"),
    ("empty_kernel", lambda: F.conv2d(X, gn.tensor(np.ones((4, 3, 0, 3)))), VALUE,
     r"`weight` must have at least one .*received weight shape \(4, 3, 0, 3\)"),
    # non-positive stride / dilation / kernel
    ("stride_zero", lambda: F.conv2d(X, W, stride=0), VALUE,
     r"conv2d: `stride` must be positive, received stride=0"),
    ("stride_negative_in_tuple", lambda: F.conv2d(X, W, stride=(1, -1)), VALUE,
     r"`stride` must be positive, received stride=\(1, -1\)"),
    ("dilation_zero", lambda: F.conv1d(X1, W1, dilation=0), VALUE,
     r"conv1d: `dilation` must be positive, received dilation=0"),
    ("pool_stride_zero", lambda: F.avg_pool2d(X, 2, stride=0), VALUE,
     r"avg_pool2d: `stride` must be positive, received stride=0"),
    ("pool_kernel_zero", lambda: F.max_pool1d(X1, 0), VALUE,
     r"max_pool1d: `kernel_size` must be positive, received kernel_size=0"),
    ("adaptive_size_zero", lambda: F.adaptive_avg_pool2d(X, (2, 0)), VALUE,
     r"`output_size` must be positive, received output_size=\(2, 0\)"),
    ("stride_float", lambda: F.conv2d(X, W, stride=1.5), TYPE,
     r"`stride` must be an int or a tuple of 2 ints, received 1.5"),
    ("stride_none", lambda: F.conv1d(X1, W1, stride=None), TYPE,
     r"`stride` must be an int or a tuple of 1 ints, received None"),
    ("stride_wrong_length", lambda: F.conv2d(X, W, stride=(1, 2, 3)), TYPE,
     r"`stride` must be an int or a tuple of 2 ints, received \(1, 2, 3\)"),
    ("pool_kernel_float", lambda: F.max_pool2d(X, 2.0), TYPE,
     r"`kernel_size` must be an int or a tuple of 2 ints, received 2.0"),
    # padding
    ("padding_negative", lambda: F.conv2d(X, W, padding=-1), VALUE,
     r"conv2d: `padding` must be non-negative, received padding=-1"),
    ("padding_negative_pair", lambda: F.conv2d(X, W, padding=((0, -1), (1, 1))), VALUE,
     r"`padding` must be non-negative, received padding=\(0, -1\)"),
    ("pool_padding_negative", lambda: F.avg_pool2d(X, 2, padding=(0, -1)), VALUE,
     r"`padding` must be non-negative, received padding=\(0, -1\)"),
    ("pool_padding_over_half_kernel", lambda: F.max_pool2d(X, 2, padding=2), VALUE,
     r"max_pool2d: padding 2 must be at most half the kernel size 2"),
    ("padding_float", lambda: F.conv2d(X, W, padding=1.5), TYPE,
     r"`padding` must be an int or a tuple of 2 ints, received 1.5"),
    ("padding_unknown_string", lambda: F.conv2d(X, W, padding="full"), VALUE,
     r"`padding` string must be 'valid' or 'same', received 'full'"),
    ("padding_mode_unknown", lambda: F.conv2d(X, W, padding=1, padding_mode="mirror"), VALUE,
     r"padding_mode must be one of \('zeros', .*'circular'\), received 'mirror'"),
    ("reflect_padding_too_large", lambda: F.conv1d(X1, W1, padding=8, padding_mode="reflect"),
     VALUE, r"reflect padding \(8, 8\) must be smaller than the input size 8"),
    ("circular_padding_too_large", lambda: F.conv1d(X1, W1, padding=9, padding_mode="circular"),
     VALUE, r"circular padding \(9, 9\) must not exceed the input size 8"),
    ("pad_mode_unknown", lambda: F.pad(LOGITS, (1, 1), mode="foo"), VALUE,
     r"pad: padding_mode must be one of .* received 'foo'"),
    ("pad_odd_length", lambda: F.pad(LOGITS, (1,)), VALUE,
     r"pad: expected an even number of pad sizes.*received \(1,\)"),
    ("pad_negative", lambda: F.pad(LOGITS, (1, -1)), VALUE,
     r"pad: padding must be non-negative, received \(1, -1\)"),
    # bias
    ("bias_wrong_length", lambda: F.conv2d(X, W, gn.tensor(np.ones(3))), VALUE,
     r"conv2d: bias must have shape \(4,\), received \(3,\)"),
    ("bias_wrong_rank", lambda: F.conv1d(X1, W1, gn.tensor(np.ones((4, 1)))), VALUE,
     r"conv1d: bias must have shape \(4,\), received \(4, 1\)"),
    ("linear_bias", lambda: F.linear(LOGITS, gn.tensor(np.ones((4, 3))), gn.tensor(np.ones(5))),
     VALUE, r"linear: bias must have shape \(4,\), received \(5,\)"),
    # integer and complex input where float is required
    ("integer_input", lambda: F.conv2d(np.ones((2, 3, 8, 8), dtype=np.int64), W), TYPE,
     r"conv2d: `input` must have a float dtype \(float32 or float64\), received int64"),
    ("integer_tensor_input", lambda: F.conv1d(gn.tensor(np.ones((2, 3, 8), np.int32)), W1), TYPE,
     r"conv1d: `input` must have a float dtype .*received int32"),
    ("integer_weight", lambda: F.conv2d(X, np.ones((4, 3, 3, 3), dtype=np.int32)), TYPE,
     r"`weight` must have a float dtype .*received int32"),
    ("integer_bias", lambda: F.conv2d(X, W, np.ones(4, dtype=np.int64)), TYPE,
     r"`bias` must have a float dtype .*received int64"),
    ("complex_input", lambda: F.conv2d(np.ones((2, 3, 8, 8), dtype=complex), W), TYPE,
     r"`input` must have a float dtype .*received complex128"),
    ("complex_tensor", lambda: gn.tensor(np.ones(3, dtype=np.complex64)), TYPE,
     r"tensor: expected real numbers \(bool, int or float\), received dtype complex64"),
    ("string_input", lambda: F.conv2d("image", W), TYPE,
     r"conv2d: `input` must be a Tensor or array, received str"),
    ("integer_pool_input", lambda: F.max_pool2d(np.ones((1, 1, 4, 4), dtype=np.int64), 2), TYPE,
     r"max_pool2d: `input` must have a float dtype .*received int64"),
    ("integer_relu_input", lambda: F.relu(np.array([1, 2])), TYPE,
     r"relu: `input` must have a float dtype .*received int64"),
    ("dtype_mismatch", lambda: F.conv2d(X, gn.tensor(np.ones((4, 3, 3, 3)), dtype=np.float32)),
     TYPE, r"input dtype float64 and weight dtype float32 differ"),
    ("requires_grad_on_integers", lambda: gn.tensor(np.array([1, 2]), requires_grad=True), TYPE,
     r"requires_grad=True needs a float dtype, received dtype int64"),
    # losses
    ("cross_entropy_float_target", lambda: F.cross_entropy(LOGITS, np.ones(2)), TYPE,
     r"cross_entropy: `target` must hold integer class indices, received dtype float64"),
    ("cross_entropy_target_shape", lambda: F.cross_entropy(LOGITS, np.zeros(3, dtype=int)),
     VALUE, r"target shape \(3,\) does not match input shape \(2, 3\)"),
    ("cross_entropy_class_range", lambda: F.cross_entropy(LOGITS, np.array([0, 3])), VALUE,
     r"target class 3 is outside \[0, 2\] for 3 classes"),
    ("cross_entropy_smoothing", lambda: F.cross_entropy(LOGITS, np.array([0, 1]),
                                                        label_smoothing=1.5), VALUE,
     r"`label_smoothing` must be in \[0, 1\], received 1.5"),
    ("cross_entropy_reduction", lambda: F.cross_entropy(LOGITS, np.array([0, 1]),
                                                        reduction="avg"), VALUE,
     r"`reduction` must be one of \('mean', 'sum', 'none'\), received 'avg'"),
    ("mse_shapes", lambda: F.mse_loss(gn.tensor(np.ones(3)), gn.tensor(np.ones(4))), VALUE,
     r"mse_loss: input shape \(3,\) and target shape \(4,\) must be equal"),
    ("bce_shapes", lambda: F.binary_cross_entropy_with_logits(LOGITS, np.ones(3)), VALUE,
     r"input shape \(2, 3\) and target shape \(3,\) must be equal"),
    ("dropout_p", lambda: F.dropout(X, 1.5), VALUE, r"dropout: `p` must be in \[0, 1\], received "
                                                    r"p=1.5"),
    # tensor ops
    ("reshape_size", lambda: LOGITS.reshape(4, 2), VALUE,
     r"cannot reshape shape \(2, 3\) \(6 elements\) to \(4, 2\)"),
    ("permute_axes", lambda: LOGITS.permute(0, 0), VALUE,
     r"axes must be a permutation of 0..1, received \(0, 0\)"),
    ("sum_axis_range", lambda: LOGITS.sum(axis=2), VALUE,
     r"sum: axis 2 is out of range for a 2-D tensor"),
    ("softmax_axis_range", lambda: F.softmax(X, 5), VALUE, r"softmax: axis 5 is out of range"),
    ("concat_shapes", lambda: gn.concat([LOGITS, gn.tensor(np.ones((3, 3)))], axis=1), VALUE,
     r"concat: tensor 1 has shape \(3, 3\), which does not match \(2, 3\) outside axis 1"),
    ("stack_shapes", lambda: gn.stack([LOGITS, gn.tensor(np.ones((3, 3)))]), VALUE,
     r"stack: all tensors must have one shape, received \[\(2, 3\), \(3, 3\)\]"),
    ("stack_non_tensor", lambda: gn.stack([LOGITS, np.ones((2, 3))]), TYPE,
     r"stack: item 1 must be a Tensor, received ndarray"),
]


@pytest.mark.parametrize("call,error,pattern", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_input_raises_a_clear_error(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()


@pytest.mark.parametrize("error,base", [(gn.ArgumentError, ValueError),
                                        (gn.ArgumentTypeError, TypeError),
                                        (gn.DataError, ValueError)])
def test_error_classes_are_the_builtin_ones_a_caller_expects(error, base):
    assert issubclass(error, base) and issubclass(error, gn.GridnnError)

