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
# # 2. Stride, padding, dilation: how big is the output?
#
# Three settings decide where the windows go:
# - **stride** s: how far the window jumps between outputs;
# - **padding** p: zeros added around the input, so windows can sit on the border;
# - **dilation** d: gaps between the kernel's taps (a 3-tap kernel with d = 2 spans 5 inputs).
#
# Along one axis of n inputs, with a kernel of k taps and p zeros on each side:
#
# $$ o = \left\lfloor \frac{n + 2p - d\,(k - 1) - 1}{s} \right\rfloor + 1 $$

# %%
# %matplotlib inline
import numpy as np

import gridnn as gn

F = gn.functional
rng = np.random.default_rng(0)

# %% [markdown]
# `F.conv_output_size(n, k, s, (p_low, p_high), d)` is that formula, the one gridnn itself
# uses. Check it against the shape `F.conv2d` really gives, for a few settings:

# %%
x = gn.tensor(rng.standard_normal((1, 1, 9, 9)))
for k, s, p, d in [(3, 1, 0, 1), (3, 2, 0, 1), (3, 2, 1, 1), (2, 2, 0, 1), (3, 1, 0, 2),
                   (3, 3, 2, 2)]:
    w = gn.tensor(rng.standard_normal((1, 1, k, k)))
    y = F.conv2d(x, w, stride=s, padding=p, dilation=d)
    o = F.conv_output_size(9, k, s, (p, p), d)
    print(f"n=9 k={k} s={s} p={p} d={d}: formula {o}, conv2d {y.shape[2:]}")
    assert y.shape[2:] == (o, o)

# %% [markdown]
# ## 'valid' and 'same'
# `padding='valid'` means no padding: the windows stay inside the input. `padding='same'`
# pads just enough that the output has ceil(n / s) elements: at stride 1 the output keeps
# the input's size. gridnn allows 'same' at **any** stride; when the total padding is odd,
# the extra zero goes on the high side (as TensorFlow does).

# %%
for s in (1, 2, 3):
    pads = F.resolve_padding("same", (9,), (4,), (s,), (1,), "demo")
    y = F.conv2d(x, gn.tensor(np.ones((1, 1, 4, 4))), stride=s, padding="same")
    print(f"stride {s}: pads (low, high) {pads[0]}, output {y.shape[2:]}, ceil(9/{s}) = "
          f"{-(-9 // s)}")
    assert y.shape[2] == -(-9 // s)

# %% [markdown]
# ## Dilation: a wider window, the same number of weights
# On the lecture's 4x4 input, a 2x2 kernel with dilation 2 reads x1, x3, x9, x11 for y1:
# the taps skip one input between them. Its dense matrix (tutorial 4) says so:

# %%
W, _ = gn.explain.dense_equivalent(gn.nn.Conv2d(1, 1, 2, dilation=2), (1, 4, 4))
for row in range(W.shape[0]):
    print(f"y{row + 1} reads x", (np.flatnonzero(W[row]) + 1).tolist())

# %% [markdown]
# ## One-dimensional grids: a time series
# A signal is a 1-D grid: `F.conv1d` takes (N, C, L) and kernels (K, C, k). The same
# window-times-kernel rule applies. A kernel of [-1, 1] answers "how much did the signal
# change?"; a kernel of [1/5]*5 averages (smooths) the noise away.

# %%
t = np.arange(60)
signal = np.where(t < 30, 0.0, 1.0) + 0.1 * np.sin(t) + 0.05 * rng.standard_normal(60)
s = gn.tensor(signal[None, None])  # (1, 1, 60)
change = F.conv1d(s, gn.tensor(np.array([[[-1.0, 1.0]]])))
smooth = F.conv1d(s, gn.tensor(np.full((1, 1, 5), 0.2)), padding="same")
print("length in", s.shape[2], "| change", change.shape[2], "| smooth", smooth.shape[2])
print("the step is between t =", int(np.argmax(change.numpy()[0, 0])), "and the next sample")
assert int(np.argmax(change.numpy()[0, 0])) == 29

# %%
import matplotlib.pyplot as plt

fig, ax = plt.subplots(figsize=(8, 2.6))
ax.plot(signal, label="signal")
ax.plot(smooth.numpy()[0, 0], label="smoothed: kernel [1/5]*5, padding 'same'")
ax.plot(np.arange(59) + 0.5, change.numpy()[0, 0], label="change: kernel [-1, 1]")
ax.legend(fontsize=8)
ax.set_xlabel("t")
plt.show()

# %% [markdown]
# ## Exercises
# Answer in the cell below each question; the hidden check after it says whether you are
# right. Answers: `solutions.py`.
#
# **Exercise 1.** A 'valid' 1-D convolution of a signal of length 100 with a kernel of 5
# taps at stride 3: how long is the output? (`length_out`)

# %% exercise 02-1
length_out = None  # your answer

# %% jupyter={"source_hidden": true}
if length_out is None:
    print("Exercise 1: not answered yet")
else:
    y = F.conv1d(gn.tensor(np.zeros((1, 1, 100))), gn.tensor(np.zeros((1, 1, 5))), stride=3)
    assert length_out == y.shape[2], "not yet: use the formula with p = 0, d = 1"
    print("Exercise 1: correct")

# %% [markdown]
# **Exercise 2.** Which padding `p` (the same on every side) keeps a 7x7 input 7x7 under a
# 5x5 kernel at stride 1?

# %% exercise 02-2
p = None  # your answer

# %% jupyter={"source_hidden": true}
if p is None:
    print("Exercise 2: not answered yet")
else:
    y = F.conv2d(gn.tensor(np.zeros((1, 1, 7, 7))), gn.tensor(np.zeros((1, 1, 5, 5))), padding=p)
    assert y.shape[2:] == (7, 7), f"not yet: padding {p} gives {y.shape[2:]}"
    print("Exercise 2: correct")

# %% [markdown]
# **Exercise 3.** A 3-tap kernel with dilation 4: how many inputs apart are its first and
# last taps, i.e. how wide is its window (`span`)?

# %% exercise 02-3
span = None  # your answer

# %% jupyter={"source_hidden": true}
if span is None:
    print("Exercise 3: not answered yet")
else:
    y = F.conv1d(gn.tensor(np.zeros((1, 1, span))), gn.tensor(np.zeros((1, 1, 3))), dilation=4)
    assert y.shape[2] == 1, "not yet: the window must fit the input exactly once"
    print("Exercise 3: correct")
