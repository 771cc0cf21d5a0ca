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
# # 3. Channels and feature maps
#
# A colour image has three channels (red, green, blue): its shape is (3, H, W). A kernel
# for it has the same three channels, e.g. 5x5x3, and at each position it multiplies the
# 5x5x3 window by the 5x5x3 kernel and sums **everything**: three channels go in, **one**
# map comes out. With K kernels we get K maps, the **feature maps**: (K, H', W').

# %%
# %matplotlib inline
import matplotlib.pyplot as plt
import numpy as np

import gridnn as gn

F = gn.functional
rng = np.random.default_rng(0)

# %% [markdown]
# A small RGB picture: a red square on the left, a blue bar on the right, on grey.

# %%
img = np.full((3, 16, 16), 0.3, dtype=np.float32)
img[:, 4:10, 2:8] = [[[1.0]], [[0.1]], [[0.1]]]  # red square
img[:, 2:14, 11:14] = [[[0.1]], [[0.1]], [[1.0]]]  # blue bar
plt.figure(figsize=(2, 2))
plt.imshow(img.transpose(1, 2, 0))
plt.axis("off")
plt.show()
x = gn.tensor(img[None])  # (1, 3, 16, 16): N, C, H, W

# %% [markdown]
# ## One 5x5x3 kernel gives one map
# Its weight has shape (K=1, C=3, 5, 5). The map equals the sum over the three channels of
# a one-channel convolution each: the channels are summed into one number per position.

# %%
w = gn.tensor(rng.standard_normal((1, 3, 5, 5)), dtype=np.float32)
one_map = F.conv2d(x, w)
per_channel = sum(F.conv2d(x[:, c:c + 1], w[:, c:c + 1]).numpy() for c in range(3))
print("input", x.shape, "kernel", w.shape, "-> map", one_map.shape)
assert np.allclose(one_map.numpy(), per_channel, atol=1e-5)

# %% [markdown]
# A kernel that answers "is it red here?": +1 on the red channel, -1/2 on green and blue,
# averaged over the window.

# %%
red = np.zeros((1, 3, 5, 5), dtype=np.float32)
red[0, 0], red[0, 1], red[0, 2] = 1 / 25, -0.5 / 25, -0.5 / 25
red_map = F.conv2d(x, gn.tensor(red), padding="same").numpy()[0, 0]
plt.figure(figsize=(2, 2))
plt.imshow(red_map, cmap="magma")
plt.title("redness", fontsize=9)
plt.axis("off")
plt.show()
assert red_map[7, 5] > 0.5 > red_map[8, 12]

# %% [markdown]
# ## Twelve kernels give twelve maps
# A layer `nn.Conv2d(3, 12, 5)` holds twelve 5x5x3 kernels (weight (12, 3, 5, 5)) and a bias
# each. With `padding='same'` every map keeps the input's 16x16; without padding ('valid')
# each shrinks to 12x12.

# %%
layer = gn.nn.Conv2d(3, 12, 5, padding="same", rng=rng)
maps = layer(x)
print("weight", layer.weight.shape, "bias", layer.bias.shape, "-> maps", maps.shape)
print("valid:", gn.nn.Conv2d(3, 12, 5, rng=rng)(x).shape)
fig, axes = plt.subplots(2, 6, figsize=(9, 3))
for k, ax in enumerate(axes.flat):
    ax.imshow(maps.numpy()[0, k], cmap="RdBu_r")
    ax.set_title(f"map {k + 1}", fontsize=8)
    ax.axis("off")
plt.show()

# %% [markdown]
# The next layer treats those twelve maps as twelve channels: its kernels are 12 deep.

# %%
model = gn.nn.Sequential(gn.nn.Conv2d(3, 12, 5, padding="same", rng=rng), gn.nn.ReLU(),
                         gn.nn.Conv2d(12, 8, 3, rng=rng))
print(gn.summary(model, (3, 16, 16)))

# %% [markdown]
# ## Exercises
# **Exercise 1.** How many parameters (weights and biases) does `nn.Conv2d(3, 12, 5)` have?
# Count by hand: `n_params`.

# %% exercise 03-1
n_params = None  # your answer

# %% jupyter={"source_hidden": true}
if n_params is None:
    print("Exercise 1: not answered yet")
else:
    counted = sum(p.size for p in gn.nn.Conv2d(3, 12, 5).parameters())
    assert n_params == counted, "not yet: 12 kernels of 5x5x3, plus one bias per kernel"
    print("Exercise 1: correct")

# %% [markdown]
# **Exercise 2.** Write a kernel `gray` of shape (1, 3, 1, 1) that turns the RGB picture into
# its gray level, the mean of the three channels.

# %% exercise 03-2
gray = None  # your answer: an array of shape (1, 3, 1, 1)

# %% jupyter={"source_hidden": true}
if gray is None:
    print("Exercise 2: not answered yet")
else:
    out = F.conv2d(x, gn.tensor(np.asarray(gray, dtype=np.float32))).numpy()
    assert np.allclose(out[0, 0], img.mean(axis=0), atol=1e-6), "not yet: weight each channel 1/3"
    print("Exercise 2: correct")

# %% [markdown]
# **Exercise 3.** 16 kernels of 3x3x3 run with `padding='same', stride=2` over a (3, 32, 32)
# image: what is the shape (K, H, W) of the output, `maps_shape`?

# %% exercise 03-3
maps_shape = None  # your answer: a tuple

# %% jupyter={"source_hidden": true}
if maps_shape is None:
    print("Exercise 3: not answered yet")
else:
    y = gn.nn.Conv2d(3, 16, 3, stride=2, padding="same")(np.zeros((1, 3, 32, 32), np.float32))
    assert tuple(maps_shape) == y.shape[1:], "not yet: 'same' keeps ceil(32 / 2)"
    print("Exercise 3: correct")
