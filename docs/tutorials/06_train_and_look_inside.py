# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 6. Train a CNN and look inside
#
# Everything so far, put to work: train a small CNN on handwritten digits, look at its
# curves, its learned kernels, its feature maps and its receptive fields; do the same for a
# 1-D CNN on MNIST-1D; and test the lecture's claim that weight sharing helps when there are
# few training images.

# %%
# %matplotlib inline
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Image, display

import gridnn as gn
from gridnn.cli import main as gridnn_command
from gridnn.data import ArrayDataset, DataLoader
from gridnn.explain import trained

nn = gn.nn
work = Path(tempfile.mkdtemp(prefix="gridnn-tutorial-"))

# %% [markdown]
# ## Train on digits
# The same command as `gridnn train` in a terminal: scikit-learn's 8x8 digits (1437 training
# images, 360 test images) and the default model `digits_cnn` (two 3x3 conv layers with
# BatchNorm and ReLU, a max pool, a linear layer). Eight epochs take a few seconds.

# %%
gridnn_command(["train", "--data", "digits", "--epochs", "8", "--no-progress",
                "--out", str(work / "digits")])

# %% [markdown]
# `gn.open_run` opens the run folder: its model, config, metrics and test set. In Jupyter it
# shows its figures, the loss curves and the confusion matrix.

# %%
run = gn.open_run(work / "digits")
print(f"test accuracy {run.accuracy():.1%}")
assert run.accuracy() > 0.9
run

# %%
display(Image(filename=str(run.path / "curves.png"), width=600))

# %% [markdown]
# ## What the kernels learned
# The first layer's 32 kernels, 3x3 each, on one colour scale (red +, blue -):

# %%
name, first = run.conv_layers()[0]
trained.filters_figure(name, first.weight.numpy())

# %% [markdown]
# ## Feature maps: what each conv layer makes of one test digit

# %%
sample, label = run.sample(0)
trained.feature_maps_figure(sample, run.feature_maps(sample), f"a test digit (label {label})")

# %% [markdown]
# ## Receptive fields
# One output of the first 3x3 conv sees 3x3 inputs; the second conv sees 3x3 of those, so
# 5x5 inputs; after the 2x2 pool each unit covers 6x6 of the 8x8 digit.

# %%
field = gn.explain.receptive_field(run.model, run.input_shape)
print(field)

# %% [markdown]
# The studio's model page, in this notebook: draw a digit, see the prediction and every
# layer's feature maps, click a unit for its receptive field.

# %%
import gridnn.notebook  # noqa: E402

gridnn.notebook.inside(run)

# %% [markdown]
# ## MNIST-1D: the same ideas on a 1-D grid
# MNIST-1D turns each digit into a 40-sample signal (generated here, no download). Its CNN
# uses `Conv1d` with 5-tap kernels at stride 2.

# %%
gridnn_command(["train", "--data", "mnist1d", "--epochs", "6", "--no-progress",
                "--out", str(work / "mnist1d")])
run1d = gn.open_run(work / "mnist1d")
print(f"MNIST-1D test accuracy after 6 epochs: {run1d.accuracy():.1%}")
assert run1d.accuracy() > 0.5
signal, label = run1d.sample(0)
trained.feature_maps_figure(signal, run1d.feature_maps(signal), f"a test signal (label {label})")

# %% [markdown]
# ## Shared weights on few training images
# The lecture's claim: a convolution is an MLP layer with fewer, shared parameters, and
# that is a **regulariser**: each kernel learns from every position of every image, so it
# needs fewer images. Test it with 200 training digits (20 per class), and the same network
# three ways: shared (`Conv2d`), unshared (`LocallyConnected2d`, the same windows with a
# kernel per position), and an MLP. The digits are placed at random on a 12x12 canvas, so
# a stroke may appear anywhere, as in real photos.

# %%
digits = gn.data.load_digits()


def placed(x, seed):
    """Each 8x8 digit at a random position of a 12x12 canvas."""
    rng = np.random.default_rng(seed)
    out = np.zeros((len(x), 1, 12, 12), np.float32)
    for i, (r, c) in enumerate(rng.integers(0, 5, (len(x), 2))):
        out[i, :, r:r + 8, c:c + 8] = x[i]
    return out


few = np.concatenate([np.flatnonzero(digits.train.y == c)[:20] for c in range(10)])
train_set = ArrayDataset(placed(digits.train.x[few], 0), digits.train.y[few])
test_set = ArrayDataset(placed(digits.test.x, 1), digits.test.y)


def network(kind, rng):
    """conv -> ReLU -> pool -> conv -> ReLU -> global average -> linear; or an MLP."""
    if kind == "MLP":
        return nn.Sequential(nn.Flatten(), nn.Linear(144, 256, rng=rng), nn.ReLU(),
                             nn.Linear(256, 10, rng=rng))
    if kind == "shared (conv)":
        a, b = nn.Conv2d(1, 16, 3, padding=1, rng=rng), nn.Conv2d(16, 32, 3, padding=1, rng=rng)
    else:
        a = nn.LocallyConnected2d(1, 16, (12, 12), 3, padding=1, rng=rng)
        b = nn.LocallyConnected2d(16, 32, (6, 6), 3, padding=1, rng=rng)
    return nn.Sequential(a, nn.ReLU(), nn.MaxPool2d(2), b, nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(32, 10, rng=rng))


results = {}
for kind in ("shared (conv)", "unshared (locally connected)", "MLP"):
    model = network(kind, np.random.default_rng(0))
    history = gn.train.fit(model, DataLoader(train_set, 20, shuffle=True, seed=0),
                           DataLoader(test_set, 360), epochs=60, eval_name="test",
                           optimizer=gn.optim.Adam(model.parameters(), lr=3e-3), progress=False)
    params = sum(p.size for p in model.parameters())
    results[kind] = (params, history["train_accuracy"][-1], history["test_accuracy"])
    print(f"{kind:30s} {params:7,d} parameters  train {history['train_accuracy'][-1]:.0%}  "
          f"test {history['test_accuracy'][-1]:.1%}")

# %%
fig, ax = plt.subplots(figsize=(6, 3))
for kind, (params, _, test_acc) in results.items():
    ax.plot(range(1, len(test_acc) + 1), test_acc, label=f"{kind}, {params:,} parameters")
ax.set_xlabel("epoch")
ax.set_ylabel("test accuracy")
ax.set_title("200 training digits, placed anywhere on 12x12", fontsize=10)
ax.legend(fontsize=8, loc="upper left")
plt.show()
assert results["shared (conv)"][2][-1] > results["unshared (locally connected)"][2][-1]

# %% [markdown]
# All three fit their 200 training images; the shared network, with the fewest parameters,
# does best on the 360 test images it never saw. The unshared network has the same windows
# but must learn each stroke detector separately at every position, from the few images that
# happen to have a stroke there. (On digits that are always centred, as in the plain 8x8
# set, the three are much closer: position then tells a lot by itself. Try it: replace
# `placed(...)` with the plain `digits.train.x[few]` and 8x8 sizes.)
#
# ## Exercises
# **Exercise 1.** How many parameters does the first unshared layer,
# `LocallyConnected2d(1, 16, (12, 12), 3, padding=1)`, have (its default bias is one per
# output position and channel)? `local_params`

# %% exercise 06-1
local_params = None  # your answer

# %% jupyter={"source_hidden": true}
if local_params is None:
    print("Exercise 1: not answered yet")
else:
    layer = nn.LocallyConnected2d(1, 16, (12, 12), 3, padding=1)
    assert local_params == sum(p.size for p in layer.parameters()), \
        "not yet: a 3x3 kernel per output position and channel, plus a bias for each"
    print("Exercise 1: correct")

# %% [markdown]
# **Exercise 2.** Two 3x3 convolutions at stride 1, one after the other: how many inputs
# across is the receptive field of the second one's output (`rf`)? Then three in a row
# (`rf3`)?

# %% exercise 06-2
rf, rf3 = None, None  # your answers

# %% jupyter={"source_hidden": true}
if rf is None or rf3 is None:
    print("Exercise 2: not answered yet")
else:
    stack = nn.Sequential(*[nn.Conv2d(1, 1, 3) for _ in range(3)])
    sizes = [f.size[0] for f in gn.explain.receptive_field(stack, (1, 16, 16)).layers]
    assert (rf, rf3) == (sizes[1], sizes[2]), "not yet: each 3x3 layer adds 2"
    print("Exercise 2: correct")
