"""gridnn.data: Dataset, DataLoader (determinism, resume, drop_last, coverage) and transforms.

Oracles: naive per-sample loops (pad then slice, roll then zero the wrapped part).
"""

import numpy as np
import pytest

from gridnn import ArgumentError, ArgumentTypeError
from gridnn.data import (
    ArrayDataset,
    Compose,
    DataLoader,
    Dataset,
    Normalize,
    RandomCrop,
    RandomHorizontalFlip,
    RandomShift,
    ToFloat,
    stratified_split,
)


def indexed_dataset(n=23, shape=(2, 5, 6), transform=None):
    """x[i] is filled with i + a pattern, y[i] = i: every batch says which samples it holds."""
    pattern = np.arange(np.prod(shape), dtype=np.float32).reshape(shape) / 1000
    x = np.arange(n, dtype=np.float32)[:, None, None, None] + pattern
    return ArrayDataset(x, np.arange(n), transform=transform)


def epoch_batches(loader):
    return [(xb.copy(), yb.copy()) for xb, yb in loader]


def same_batches(a, b):
    return len(a) == len(b) and all(np.array_equal(xa, xb) and np.array_equal(ya, yb)
                                    for (xa, ya), (xb, yb) in zip(a, b))


AUGMENT = Compose([RandomCrop(4, padding=1), RandomHorizontalFlip(), RandomShift(1)])


# ---- DataLoader ----------------------------------------------------------------------------
def test_batches_have_the_promised_types_and_shapes():
    loader = DataLoader(indexed_dataset(10), batch_size=4)
    batches = list(loader)
    assert len(loader) == len(batches) == 3
    assert [len(y) for _, y in batches] == [4, 4, 2]
    xb, yb = batches[0]
    assert xb.dtype == np.float32 and xb.shape == (4, 2, 5, 6)
    assert yb.dtype == np.int64 and yb.tolist() == [0, 1, 2, 3]


def test_drop_last_drops_the_short_batch():
    loader = DataLoader(indexed_dataset(10), batch_size=3, drop_last=True)
    assert len(loader) == 3
    assert [len(y) for _, y in loader] == [3, 3, 3]
    assert len(DataLoader(indexed_dataset(10), batch_size=3)) == 4
    assert len(DataLoader(indexed_dataset(2), batch_size=3, drop_last=True)) == 0


@pytest.mark.parametrize("drop_last", [False, True])
def test_shuffle_visits_every_sample_once_per_epoch(drop_last):
    loader = DataLoader(indexed_dataset(23), batch_size=5, shuffle=True, seed=7,
                        drop_last=drop_last)
    orders = []
    for _ in range(3):
        seen = np.concatenate([yb for _, yb in loader])
        if drop_last:
            assert len(seen) == 20 and len(set(seen.tolist())) == 20
        else:
            assert sorted(seen.tolist()) == list(range(23))
        orders.append(seen.tolist())
    assert orders[0] != orders[1] != orders[2]  # reshuffled each epoch


def test_samples_stay_paired_with_their_labels():
    loader = DataLoader(indexed_dataset(23), batch_size=6, shuffle=True, seed=1)
    for xb, yb in loader:
        np.testing.assert_array_equal(np.floor(xb[:, 0, 0, 0]), yb)


def test_same_seed_and_epoch_give_the_same_batches_and_other_epochs_differ():
    make = lambda seed: DataLoader(indexed_dataset(transform=AUGMENT), 4, shuffle=True,  # noqa: E731
                                   seed=seed, transform=RandomHorizontalFlip(0.5))
    a, b = make(3), make(3)
    a.set_epoch(5)
    b.set_epoch(5)
    first = epoch_batches(a)
    assert same_batches(first, epoch_batches(b))
    b.set_epoch(6)
    assert not same_batches(first, epoch_batches(b))
    other_seed = make(4)
    other_seed.set_epoch(5)
    assert not same_batches(first, epoch_batches(other_seed))


def test_a_resumed_loader_replays_exactly_the_remaining_epochs():
    make = lambda: DataLoader(indexed_dataset(transform=AUGMENT), 4, shuffle=True, seed=11)  # noqa: E731
    uninterrupted = make()
    full = [epoch_batches(uninterrupted) for _ in range(4)]   # epochs 0..3, advancing itself
    resumed = make()
    resumed.set_epoch(2)                                      # a fresh process resuming at 2
    assert same_batches(full[2], epoch_batches(resumed))
    assert same_batches(full[3], epoch_batches(resumed))
    assert resumed.epoch == 4


def test_augmentation_draws_do_not_depend_on_shuffling():
    # Identical images with distinct labels: whatever the order, batch position k gets the
    # same random crop/flip/shift when the augmentation stream is independent of the shuffle.
    x = np.broadcast_to(np.random.default_rng(0).random((1, 2, 5, 6)), (8, 2, 5, 6))
    plain = DataLoader(ArrayDataset(x, np.arange(8)), 8, seed=2, transform=AUGMENT)
    shuffled = DataLoader(ArrayDataset(x, np.arange(8)), 8, shuffle=True, seed=2,
                          transform=AUGMENT)
    (xa, ya), = list(plain)
    (xb, yb), = list(shuffled)
    assert ya.tolist() == list(range(8)) and ya.tolist() != yb.tolist()
    np.testing.assert_array_equal(xa, xb)


def test_a_duck_typed_dataset_is_stacked():
    class Squares(Dataset):
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return np.full((1, 3), i * i, dtype=np.float64), i

    xb, yb = next(iter(DataLoader(Squares(), batch_size=5)))
    assert xb.dtype == np.float32 and xb.shape == (5, 1, 3)
    np.testing.assert_array_equal(xb[:, 0, 0], [0, 1, 4, 9, 16])
    assert yb.dtype == np.int64


@pytest.mark.parametrize("kwargs, error, text", [
    (dict(batch_size=0), ArgumentError, "`batch_size` must be a positive int, received "
                                        "batch_size=0"),
    (dict(batch_size=-3), ArgumentError, "batch_size=-3"),
    (dict(batch_size=2.0), ArgumentTypeError, "`batch_size` must be an int, received float"),
    (dict(batch_size=True), ArgumentTypeError, "`batch_size` must be an int"),
    (dict(batch_size=2, shuffle="yes"), ArgumentTypeError, "`shuffle` must be a bool"),
    (dict(batch_size=2, drop_last=1), ArgumentTypeError, "`drop_last` must be a bool"),
    (dict(batch_size=2, seed=-1), ArgumentError, "`seed` must be a non-negative int"),
    (dict(batch_size=2, transform=3), ArgumentTypeError, "`transform` must be callable"),
])
def test_loader_arguments_are_checked(kwargs, error, text):
    with pytest.raises(error, match=text.replace("(", r"\(").replace(")", r"\)")):
        DataLoader(indexed_dataset(4), **kwargs)


def test_loader_rejects_what_is_not_a_dataset_and_a_negative_epoch():
    with pytest.raises(ArgumentTypeError, match="`dataset` must be a Dataset"):
        DataLoader(42, batch_size=2)
    with pytest.raises(ArgumentError, match="`epoch` must be a non-negative int"):
        DataLoader(indexed_dataset(4), 2).set_epoch(-1)


# ---- ArrayDataset --------------------------------------------------------------------------
def test_array_dataset_stores_float32_and_int64_and_indexes():
    ds = ArrayDataset(np.arange(24, dtype=np.uint8).reshape(3, 1, 8), np.array([2, 0, 1],
                                                                               dtype=np.int32))
    assert ds.x.dtype == np.float32 and ds.y.dtype == np.int64 and len(ds) == 3
    x, y = ds[-1]
    assert x.shape == (1, 8) and y == 1 and x[0, 0] == 16
    with pytest.raises(IndexError, match="index 3 is out of range for 3 samples"):
        ds[3]


def test_array_dataset_item_transform_is_reproducible():
    ds = indexed_dataset(transform=AUGMENT)
    np.testing.assert_array_equal(ds[4][0], ds[4][0])
    assert ds[4][0].shape == (2, 4, 4)


@pytest.mark.parametrize("x, y, text", [
    (np.zeros((4, 8)), np.zeros(4, dtype=int), r"`x` must be \(N, C, L\) or \(N, C, H, W\)"),
    (np.zeros((4, 1, 8)), np.zeros(3, dtype=int), r"`y` must have shape \(4,\)"),
    (np.zeros((4, 1, 8)), np.zeros(4), "`y` must hold integer labels"),
])
def test_array_dataset_checks_its_arrays(x, y, text):
    with pytest.raises((ArgumentError, ArgumentTypeError), match=text):
        ArrayDataset(x, y)


def test_stratified_split_is_seeded_exact_and_keeps_class_shares():
    labels = np.repeat(np.arange(4), [50, 30, 15, 5])
    train, test = stratified_split(labels, 0.2, seed=3)
    again = stratified_split(labels, 0.2, seed=3)
    assert np.array_equal(train, again[0]) and np.array_equal(test, again[1])
    assert not np.array_equal(test, stratified_split(labels, 0.2, seed=4)[1])
    assert len(test) == 20 and sorted(np.concatenate([train, test]).tolist()) == list(range(100))
    assert np.bincount(labels[test]).tolist() == [10, 6, 3, 1]


# ---- transforms ----------------------------------------------------------------------------
def naive_crop_offsets(out, x, size, padding):
    """All offsets at which ``out`` equals a window of zero-padded ``x`` (one sample, C, *S)."""
    padded = np.pad(x, [(0, 0)] + [(padding, padding)] * (x.ndim - 1))
    hits = []
    for offset in np.ndindex(*[p - size + 1 for p in padded.shape[1:]]):
        window = padded[(slice(None),) + tuple(slice(o, o + size) for o in offset)]
        if np.array_equal(window, out):
            hits.append(offset)
    return hits


def test_random_crop_with_padding_cuts_a_window_of_the_padded_image():
    rng = np.random.default_rng(0)
    x = rng.random((16, 3, 6, 6)).astype(np.float32)
    before = x.copy()
    out = RandomCrop(6, padding=2)(x, np.random.default_rng(1))
    assert out.shape == x.shape and out.dtype == np.float32
    np.testing.assert_array_equal(x, before)  # input untouched
    offsets = [naive_crop_offsets(o, xi, 6, 2) for o, xi in zip(out, x)]
    assert all(len(hits) == 1 for hits in offsets)
    assert len({hits[0] for hits in offsets}) > 4  # offsets vary from sample to sample
    np.testing.assert_array_equal(out, RandomCrop(6, padding=2)(x, np.random.default_rng(1)))


def test_random_crop_to_a_smaller_size_and_in_1d():
    x = np.random.default_rng(0).random((8, 2, 9, 7)).astype(np.float32)
    out = RandomCrop((5, 4))(x, np.random.default_rng(2))
    assert out.shape == (8, 2, 5, 4)
    for o, xi in zip(out, x):
        assert any(np.array_equal(o, xi[:, i:i + 5, j:j + 4]) for i in range(5) for j in range(4))
    signal = np.random.default_rng(3).random((10, 1, 40)).astype(np.float32)
    out1 = RandomCrop(40, padding=3)(signal, np.random.default_rng(4))
    assert out1.shape == (10, 1, 40)
    assert all(len(naive_crop_offsets(o, s, 40, 3)) == 1 for o, s in zip(out1, signal))


def test_random_crop_identity_without_padding():
    x = np.random.default_rng(0).random((4, 1, 5, 5)).astype(np.float32)
    np.testing.assert_array_equal(RandomCrop(5)(x, np.random.default_rng(0)), x)


def test_horizontal_flip_flips_the_last_axis():
    x = np.random.default_rng(0).random((64, 3, 4, 5)).astype(np.float32)
    np.testing.assert_array_equal(RandomHorizontalFlip(1.0)(x, np.random.default_rng(0)),
                                  x[..., ::-1])
    np.testing.assert_array_equal(RandomHorizontalFlip(0.0)(x, np.random.default_rng(0)), x)
    out = RandomHorizontalFlip(0.5)(x, np.random.default_rng(5))
    flipped = [np.array_equal(o, xi[..., ::-1]) for o, xi in zip(out, x)]
    kept = [np.array_equal(o, xi) for o, xi in zip(out, x)]
    assert all(f != k for f, k in zip(flipped, kept))
    assert 16 < sum(flipped) < 48
    np.testing.assert_array_equal(out, RandomHorizontalFlip(0.5)(x, np.random.default_rng(5)))


def naive_shift(x, shift):
    """Translate one sample (C, *S) by ``shift`` steps per spatial axis, zero-filling."""
    out = x.copy()
    for axis, s in enumerate(shift, start=1):
        out = np.roll(out, s, axis=axis)
        index = [slice(None)] * out.ndim
        index[axis] = slice(0, s) if s >= 0 else slice(s, None)
        out[tuple(index)] = 0
    return out


def test_random_shift_translates_with_zero_fill():
    x = np.random.default_rng(0).random((32, 2, 6, 7)).astype(np.float32) + 1
    out = RandomShift(2)(x, np.random.default_rng(3))
    assert out.shape == x.shape
    shifts = []
    for o, xi in zip(out, x):
        hits = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)
                if np.array_equal(o, naive_shift(xi, (dy, dx)))]
        assert len(hits) == 1
        shifts.append(hits[0])
    assert len(set(shifts)) > 8
    signal = np.random.default_rng(1).random((16, 1, 40)).astype(np.float32) + 1
    out1 = RandomShift(3)(signal, np.random.default_rng(2))
    assert all(any(np.array_equal(o, naive_shift(s, (d,))) for d in range(-3, 4))
               for o, s in zip(out1, signal))


def test_to_float_and_normalize():
    x = np.array([[[[0, 51, 255]]]], dtype=np.uint8)
    np.testing.assert_allclose(ToFloat()(x), [[[[0, 0.2, 1]]]], rtol=1e-7)
    assert ToFloat()(x).dtype == np.float32
    batch = np.random.default_rng(0).random((4, 3, 2, 2)).astype(np.float32)
    mean, std = [0.1, 0.2, 0.3], [0.5, 2.0, 4.0]
    out = Normalize(mean, std)(batch)
    for c in range(3):
        np.testing.assert_allclose(out[:, c], (batch[:, c] - mean[c]) / std[c], rtol=1e-6)
    assert out.dtype == np.float32


@pytest.mark.parametrize("make, text", [
    (lambda: Normalize([0.5], [0.0]), "`std` must be positive and finite"),
    (lambda: RandomHorizontalFlip(1.5), r"`p` must be in \[0, 1\], received p=1.5"),
    (lambda: RandomCrop(0), "`size` must be positive"),
    (lambda: RandomCrop(4, padding=-1), "`padding` must be non-negative"),
    (lambda: RandomCrop(2.5), "`size` must be an int or a tuple of ints"),
    (lambda: RandomShift(-1), "`max_shift` must be non-negative"),
    (lambda: ToFloat(0), "`scale` must be a positive number"),
    (lambda: Compose([1]), "every transform must be callable"),
])
def test_transform_arguments_are_checked(make, text):
    with pytest.raises((ArgumentError, ArgumentTypeError), match=text):
        make()


def test_transforms_check_batches_at_call_time():
    rng = np.random.default_rng(0)
    with pytest.raises(ArgumentError, match=r"crop size \(9, 9\) is larger than the padded"):
        RandomCrop(9)(np.zeros((2, 1, 4, 4), np.float32), rng)
    with pytest.raises(ArgumentError, match="batch has 1 channels"):
        Normalize([0, 0], [1, 1])(np.zeros((2, 1, 4, 4), np.float32))
    with pytest.raises(ArgumentError, match=r"must be \(B, C, L\) or \(B, C, H, W\)"):
        RandomHorizontalFlip()(np.zeros((4, 4), np.float32), rng)
    with pytest.raises(ArgumentTypeError, match="`rng` must be a numpy.random.Generator"):
        RandomShift(1)(np.zeros((2, 1, 4, 4), np.float32), 0)
    with pytest.raises(ArgumentTypeError, match="`size` must be an int or a tuple of 1 ints"):
        RandomCrop((3, 3))(np.zeros((2, 1, 8), np.float32), rng)
