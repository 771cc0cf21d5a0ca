"""argtypes: the command line's value converters accept what they promise and name the rest."""

import argparse

import pytest

from gridnn import argtypes
from gridnn.errors import ArgumentError


@pytest.mark.parametrize("convert, text, value", [
    (argtypes.positive_int, "3", 3),
    (argtypes.positive_float, "3e-3", 0.003),
    (argtypes.nonnegative_float, "0", 0.0),
    (argtypes.shape, "1,28,28", (1, 28, 28)),
    (argtypes.shape, "1x28x28", (1, 28, 28)),
    (argtypes.shape, "3 x 32 , 32", (3, 32, 32)),
    (argtypes.nonnegative_int, "0", 0),
    (argtypes.fraction, "0.1", 0.1),
    (argtypes.spatial_index, "2x3", (2, 3)),
    (argtypes.spatial_index, "0,1", (0, 1)),
])
def test_good_values_convert(convert, text, value):
    assert convert(text) == value


@pytest.mark.parametrize("convert, texts, expected", [
    (argtypes.positive_int, ["0", "-1", "2.5", "x", ""], "a positive int"),
    (argtypes.positive_float, ["0", "-1", "nan", "inf", "x"], "a positive number"),
    (argtypes.nonnegative_float, ["-1", "nan", "inf", "x"], "a number >= 0"),
    (argtypes.shape, ["1,0,28", "a,b", "", "1,,2", "1x-2x3"], "positive ints such as 1x28x28"),
    (argtypes.nonnegative_int, ["-1", "1.5", "x"], "an int >= 0"),
    (argtypes.fraction, ["0", "1", "-0.1", "nan", "x"], "a number between 0 and 1"),
    (argtypes.spatial_index, ["-1x2", "a", ""], "ints >= 0 such as 2x3"),
])
def test_bad_values_are_named(convert, texts, expected):
    for text in texts:
        with pytest.raises(argparse.ArgumentTypeError,
                           match=f"expected {expected}.*received {text!r}"):
            convert(text)


def test_sizes_and_per_dim_read_x_and_commas_alike():
    assert argtypes.sizes("4x4", "--input") == argtypes.sizes("4,4", "--input") == (4, 4)
    assert argtypes.sizes("8", "--input") == (8,)
    assert argtypes.sizes("28X28", "--image-size", exactly=2) == (28, 28)
    assert argtypes.per_dim("2", 2, "--stride") == (2, 2)
    assert argtypes.per_dim("2,1", 2, "--stride") == argtypes.per_dim("2x1", 2, "--stride")


@pytest.mark.parametrize("call, message", [
    (lambda: argtypes.sizes("4x4x4", "--input"),
     "`--input` must be one or two sizes like 4x4 or 8, received '4x4x4'"),
    (lambda: argtypes.sizes("0x4", "--input"), "`--input` sizes must be >= 1, received '0x4'"),
    (lambda: argtypes.sizes("28", "--image-size", exactly=2),
     "`--image-size` must be HxW like 28x28, received '28'"),
    (lambda: argtypes.per_dim("1x1x1", 2, "--kernel"),
     "`--kernel` must be an int or 2 ints like 2x2 for a 2-D input, received '1x1x1'"),
    (lambda: argtypes.per_dim("1x1", 1, "--kernel"),
     "`--kernel` must be an int for a 1-D input, received '1x1'"),
])
def test_sizes_and_per_dim_name_the_flag(call, message):
    with pytest.raises(ArgumentError) as info:
        call()
    assert str(info.value) == message


def test_a_zero_stride_reads_the_same_for_one_value_or_several():
    messages = []
    for text in ("0", "0x1", "1,0"):
        with pytest.raises(ArgumentError) as info:
            argtypes.per_dim(text, 2, "--stride")
        messages.append(str(info.value))
    assert messages == [f"`--stride` must be >= 1, received {t!r}" for t in ("0", "0x1", "1,0")]


def test_did_you_mean_names_the_nearest_choice_or_nothing():
    assert argtypes.did_you_mean("digit", ["digits", "mnist"]) == " (did you mean 'digits'?)"
    assert argtypes.did_you_mean("--epocs", ["--epochs", "--lr"]) == \
        " (did you mean '--epochs'?)"
    assert argtypes.did_you_mean("zzzz", ["digits", "mnist"]) == ""
