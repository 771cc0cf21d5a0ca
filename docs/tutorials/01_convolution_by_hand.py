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
# # 1. A convolution by hand
#
# A convolution slides a small grid of weights, the **kernel**, over the input. At each
# position it takes the **window** of the input under the kernel, multiplies the two
# element by element, **sums** the products and adds a **bias**. That one number is one
# output. Here we do it by hand on the lecture's example, then let gridnn do it.

# %%
# %matplotlib inline
import inspect

import numpy as np

import gridnn as gn
from gridnn.ops import conv_plain

F = gn.functional

# %% [markdown]
# The lecture's input: a 4x4 grid holding x1 ... x16 (row by row), and a 2x2 kernel
# w1 w2 / w3 w4. We use the numbers 1..16 so we can see which input went where.

# %%
x = np.arange(1, 17, dtype=np.float64).reshape(4, 4)  # x1..x16
w = np.array([[1.0, 0.0],
              [0.0, -1.0]])  # w1 w2 / w3 w4
b = 0.0
x

# %% [markdown]
# ## The first output, y1
# The window under the kernel at the top-left corner is x1 x2 / x5 x6.

# %%
window = x[0:2, 0:2]
products = window * w  # element-wise
y1 = products.sum() + b
print("window\n", window, "\nproducts\n", products, "\ny1 =", y1)

# %% [markdown]
# ## Every output, stride 1
# Slide the window one step at a time: 3 positions across, 3 down, so the output is 3x3.
# Every window of this input has x_(i,j) - x_(i+1,j+1) = -5, so every output is -5.

# %%
def by_hand(x, w, b, stride):
    """Loop over output positions: window * kernel, summed, plus bias."""
    k = w.shape[0]
    n = (x.shape[0] - k) // stride + 1
    y = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            win = x[i * stride:i * stride + k, j * stride:j * stride + k]
            y[i, j] = (win * w).sum() + b
    return y


y_s1 = by_hand(x, w, b, stride=1)
y_s1

# %% [markdown]
# ## Stride 2
# With stride 2 the window jumps two steps: the windows no longer overlap and the output is
# 2x2. y1 reads x1, x2, x5, x6; y2 reads x3, x4, x7, x8; and so on.

# %%
y_s2 = by_hand(x, w, b, stride=2)
y_s2

# %% [markdown]
# ## gridnn gives the same numbers
# `F.conv2d` takes a batch of images (N, C, H, W) and kernels (K, C, kH, kW): here one image
# of one channel, one kernel of one channel.

# %%
xt = gn.tensor(x[None, None])  # (1, 1, 4, 4)
wt = gn.tensor(w[None, None])  # (1, 1, 2, 2)
bt = gn.tensor([b])
assert np.allclose(F.conv2d(xt, wt, bt, stride=1).numpy()[0, 0], y_s1)
assert np.allclose(F.conv2d(xt, wt, bt, stride=2).numpy()[0, 0], y_s2)
F.conv2d(xt, wt, bt, stride=2)

# %% [markdown]
# Which inputs does y1 read? gridnn can say, without running anything: the dense matrix of
# the layer (tutorial 4) has a row per output, and y1's row is non-zero at x1, x2, x5, x6.

# %%
W, _ = gn.explain.dense_equivalent(gn.nn.Conv2d(1, 1, 2, stride=2), (1, 4, 4))
print("y1 reads x", (np.flatnonzero(W[0]) + 1).tolist())
assert (np.flatnonzero(W[0]) + 1).tolist() == [1, 2, 5, 6]

# %% [markdown]
# ## The library's own convolution, read in place
# `F.conv2d` normally runs a fast version (chunks, threads, one matrix product per chunk).
# The version that reads like the lecture is `gridnn/ops/conv_plain.py`: pad, view every
# window, multiply by the kernel and sum (one `einsum`), add the bias. Here is its forward:

# %%
print(inspect.getsource(conv_plain.ConvPlain.forward))

# %% [markdown]
# Inside `gn.plain_ops()` every convolution runs that code. The numbers agree:

# %%
with gn.plain_ops():
    plain = F.conv2d(xt, wt, bt, stride=1).numpy()
print(plain[0, 0])
assert np.allclose(plain[0, 0], y_s1)

# %% [markdown]
# ## Try it
# The studio's convolution playground, in this notebook: edit the input or the kernel, change
# the stride, step through the windows. It starts on this example. (Where no widget can run,
# for example on a page rendered from the notebook, it shows a picture instead.)

# %%
import gridnn.notebook  # noqa: E402

gridnn.notebook.playground(x, w, [b])

# %% [markdown]
# ## Exercises
# Write your answer in the cell below each question, then run the hidden check after it
# (click the "..." to see it). The answers are in `solutions.py`.
#
# **Exercise 1.** Give the bias `b1` that makes every output of the stride-1 convolution
# above equal to 0.

# %% exercise 01-1
b1 = None  # your answer: a number

# %% jupyter={"source_hidden": true}
if b1 is None:
    print("Exercise 1: not answered yet")
else:
    assert np.allclose(F.conv2d(xt, wt, gn.tensor([b1])).numpy(), 0), "not yet: outputs != 0"
    print("Exercise 1: correct")

# %% [markdown]
# **Exercise 2.** With the kernel `[[0, 1], [1, 0]]` (so w2 = w3 = 1) and stride 2, write
# the 2x2 output `y2x2` as a nested list, working from the windows by hand.

# %% exercise 01-2
y2x2 = None  # your answer: [[y1, y2], [y3, y4]]

# %% jupyter={"source_hidden": true}
if y2x2 is None:
    print("Exercise 2: not answered yet")
else:
    k2 = gn.tensor(np.array([[0.0, 1.0], [1.0, 0.0]])[None, None])
    assert np.allclose(y2x2, F.conv2d(xt, k2, stride=2).numpy()[0, 0]), "not yet"
    print("Exercise 2: correct")

# %% [markdown]
# **Exercise 3.** How many outputs does a 3x3 kernel give on a 6x6 input at stride 1?
# Answer with a number `n_out` (count the window positions).

# %% exercise 01-3
n_out = None  # your answer: a number

# %% jupyter={"source_hidden": true}
if n_out is None:
    print("Exercise 3: not answered yet")
else:
    y = F.conv2d(gn.tensor(np.zeros((1, 1, 6, 6))), gn.tensor(np.zeros((1, 1, 3, 3))))
    assert n_out == y.size, "not yet: count the positions across, times the positions down"
    print("Exercise 3: correct")
