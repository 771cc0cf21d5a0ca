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
# # 5. Learning the kernel
#
# Nobody writes the kernels of a trained network: they are **learned by backpropagation**,
# like the weights of an MLP. The gradient of the loss with respect to one kernel weight is
# a sum over every position the kernel visited (it is shared, so it collects blame from all
# of them):
#
# $$ \frac{\partial L}{\partial w_1} = \sum_{\text{outputs } p} \frac{\partial L}{\partial y_p}
#    \cdot (\text{the input under } w_1 \text{ at } p) $$

# %%
# %matplotlib inline
import matplotlib.pyplot as plt
import numpy as np

import gridnn as gn

nn, F = gn.nn, gn.functional
rng = np.random.default_rng(0)

# %% [markdown]
# ## One weight's gradient, written out
# The lecture's 4x4 input, a 2x2 kernel at stride 1 (outputs y1..y9), a target t and the
# loss L = 1/2 sum (y - t)^2, so dL/dy = y - t.

# %%
x = np.arange(1, 17, dtype=np.float64).reshape(4, 4) / 16
t = rng.standard_normal((3, 3))
w = gn.tensor(rng.standard_normal((1, 1, 2, 2)), requires_grad=True)
b = gn.tensor(np.zeros(1), requires_grad=True)
y = F.conv2d(gn.tensor(x[None, None]), w, b)
loss = 0.5 * ((y - gn.tensor(t[None, None])) ** 2).sum()
loss.backward()

dy = y.numpy()[0, 0] - t  # dL/dy at each of the 9 outputs
# w1 sits on the window's top-left input: x[i, j] at output (i, j)
dw1 = sum(dy[i, j] * x[i, j] for i in range(3) for j in range(3))
print("by hand:", dw1, " autograd:", w.grad[0, 0, 0, 0])
assert np.isclose(dw1, w.grad[0, 0, 0, 0])

# %% [markdown]
# Autograd's gradient is itself checked against finite differences by `gn.gradcheck`
# (float64): it nudges every input by +-eps and compares the change of the output with the
# gradient. Here for the input, the kernel and the bias at once, with stride 2 and padding:

# %%
xg = gn.tensor(rng.standard_normal((2, 3, 6, 6)), requires_grad=True)
wg = gn.tensor(rng.standard_normal((4, 3, 3, 3)), requires_grad=True)
bg = gn.tensor(rng.standard_normal(4), requires_grad=True)
gn.gradcheck(lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1), xg, wg, bg)

# %% [markdown]
# ## Learning an edge detector from examples
# Make pictures, and the answer we want for each: the output of the Sobel kernel, which
# responds to vertical edges. Start a 3x3 conv layer from random weights and train it by
# gradient descent on the mean squared error. It has no idea what an edge is; the data
# teach it.

# %%
sobel = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=np.float32)
images = rng.standard_normal((64, 1, 10, 10)).astype(np.float32)
targets = F.conv2d(gn.tensor(images), gn.tensor(sobel[None, None])).numpy()

layer = nn.Conv2d(1, 1, 3, rng=rng)
opt = gn.optim.SGD(layer.parameters(), lr=0.1)
losses = []
for _ in range(150):
    loss = F.mse_loss(layer(images), gn.tensor(targets))
    opt.zero_grad()
    loss.backward()
    opt.step()
    losses.append(loss.item())
print("loss", losses[0], "->", losses[-1])
print("learned kernel:\n", layer.weight.numpy()[0, 0].round(2))
assert np.allclose(layer.weight.numpy()[0, 0], sobel, atol=0.05)

# %%
fig, axes = plt.subplots(1, 3, figsize=(8, 2.4))
axes[0].semilogy(losses)
axes[0].set_title("loss", fontsize=9)
axes[0].set_xlabel("step")
for ax, k, title in [(axes[1], sobel, "Sobel (the target)"),
                     (axes[2], layer.weight.numpy()[0, 0], "learned")]:
    ax.imshow(k, cmap="RdBu_r", vmin=-2, vmax=2)
    ax.set_title(title, fontsize=9)
    ax.axis("off")
plt.show()

# %% [markdown]
# ## Exercises
# **Exercise 1.** In the first example, compute dL/dw4 (the bottom-right weight) by hand
# from `dy` and `x`, as `dw4`.

# %% exercise 05-1
dw4 = None  # your answer: a number computed from dy and x

# %% jupyter={"source_hidden": true}
if dw4 is None:
    print("Exercise 1: not answered yet")
else:
    assert np.isclose(dw4, w.grad[0, 0, 1, 1]), "not yet: w4 sits on x[i + 1, j + 1]"
    print("Exercise 1: correct")

# %% [markdown]
# **Exercise 2.** The bias is added to every output. Compute dL/db by hand as `db`.

# %% exercise 05-2
db = None  # your answer

# %% jupyter={"source_hidden": true}
if db is None:
    print("Exercise 2: not answered yet")
else:
    assert np.isclose(db, b.grad[0]), "not yet: each output passes its dL/dy to the bias"
    print("Exercise 2: correct")
