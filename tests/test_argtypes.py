"""argtypes: the command line's value converters accept what they promise and name the rest."""

import argparse

import pytest

from gridnn import argtypes


@pytest.mark.parametrize("convert, text, value", [
    (argtypes.positive_int, "3", 3),
    (argtypes.positive_float, "3e-3", 0.003),
    (argtypes.nonnegative_float, "0", 0.0),
    (argtypes.shape, "1,28,28", (1, 28, 28)),
])
def test_good_values_convert(convert, text, value):
    assert convert(text) == value


@pytest.mark.parametrize("convert, texts, expected", [
    (argtypes.positive_int, ["0", "-1", "2.5", "x", ""], "a positive int"),
    (argtypes.positive_float, ["0", "-1", "nan", "inf", "x"], "a positive number"),
    (argtypes.nonnegative_float, ["-1", "nan", "inf", "x"], "a number >= 0"),
    (argtypes.shape, ["1,0,28", "a,b", "", "1,,2"], "positive ints separated by commas"),
])
def test_bad_values_are_named(convert, texts, expected):
    for text in texts:
        with pytest.raises(argparse.ArgumentTypeError,
                           match=f"expected {expected}.*received {text!r}"):
            convert(text)
