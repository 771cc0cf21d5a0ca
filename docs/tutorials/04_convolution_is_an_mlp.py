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
# # 4. A convolution is an MLP layer with two constraints
#
# Flatten the lecture's 4x4 input into 16 numbers x1..x16 and the 2x2 stride-2 output into
# 4 numbers y1..y4. A fully connected (MLP) layer from 16 inputs to 4 outputs has a
# 16x4 = **64** weights. The convolution is that layer with two constraints:
# - **sparse connections**: y1 sees only x1, x2, x5, x6, so only **16** of the 64 entries
#   are non-zero (4 per output);
# - **shared weights**: every output uses the same kernel w1..w4, so those 16 connections
#   hold only **4** parameters.
#
# Drop the second constraint and you get a **locally connected** layer: 16 connections,
# each with its own weight (16 parameters).

# %%
# %matplotlib inline
import numpy as np

import gridnn as gn
from gridnn.explain import draw

nn, F = gn.nn, gn.functional
rng = np.random.default_rng(0)

# %% [markdown]
# ## The dense matrix the convolution equals
# `gn.explain.dense_equivalent(layer, input_shape)` builds W and b such that
# `layer(x).flatten() == W @ x.flatten() + b`, from the layer's windows (not by running it).
# Give the kernel the weights 1, 2, 3, 4 to see where each one lands:

# %%
conv = nn.Conv2d(1, 1, 2, stride=2, bias=False)
conv.weight.data[...] = np.array([[1, 2], [3, 4]], dtype=np.float32)
W, b = gn.explain.dense_equivalent(conv, (1, 4, 4))
print(W.astype(int))  # rows y1..y4, columns x1..x16

# %%
x = rng.standard_normal((1, 1, 4, 4)).astype(np.float32)
assert np.allclose(conv(x).numpy().ravel(), W @ x.ravel() + (0 if b is None else b), atol=1e-6)
print("conv(x) =", conv(x).numpy().ravel(), "\nW @ x   =", W @ x.ravel())

# %% [markdown]
# The same matrix drawn by gridnn: each shared weight keeps its colour wherever it appears.

# %%
draw.conv_matrix_figure(gn.explain.layer_map(conv, (1, 4, 4)), "Conv2d 2x2, stride 2")

# %% [markdown]
# ## Counting: 64 / 16 / 4
# `gn.explain.connection_counts` counts without building the matrix, so it works for big
# layers too.

# %%
c = gn.explain.connection_counts(conv, (1, 4, 4))
print(f"MLP weights {c['mlp_weights']}, connections {c['connections']}, "
      f"parameters {c['parameters']}")
assert (c["mlp_weights"], c["connections"], c["parameters"]) == (64, 16, 4)

# %% [markdown]
# ## The locally connected layer: 64 / 16 / 16
# `nn.LocallyConnected2d` has the same windows but a separate kernel at every output
# position: weight (H_out, W_out, C_out, C_in, kH, kW) = (2, 2, 1, 1, 2, 2).

# %%
local = nn.LocallyConnected2d(1, 1, (4, 4), 2, stride=2, bias=False, rng=rng)
c = gn.explain.connection_counts(local, (1, 4, 4))
print("weight", local.weight.shape, "|", f"MLP weights {c['mlp_weights']}, "
      f"connections {c['connections']}, parameters {c['parameters']}")
assert (c["mlp_weights"], c["connections"], c["parameters"]) == (64, 16, 16)
W_local, _ = gn.explain.dense_equivalent(local, (1, 4, 4))
assert np.allclose(local(x).numpy().ravel(), W_local @ x.ravel(), atol=1e-6)
draw.conv_matrix_figure(gn.explain.layer_map(local, (1, 4, 4)), "LocallyConnected2d")

# %% [markdown]
# ## And the MLP layer itself
# `nn.Linear(16, 4)` uses all 64 weights: every output sees every input.

# %%
mlp = nn.Linear(16, 4, bias=False, rng=rng)
c = gn.explain.connection_counts(mlp, (16,))
print(f"MLP weights {c['mlp_weights']}, connections {c['connections']}, "
      f"parameters {c['parameters']}")

# %% [markdown]
# On a real network the savings are large. `gn.summary` lists, per layer, the connections
# and what an MLP layer of the same sizes would need:

# %%
print(gn.summary(gn.models.build("lenet5"), (1, 28, 28)))

# %% [markdown]
# ## Exercises
# **Exercise 1.** The same 4x4 input and 2x2 kernel at **stride 1**: give the counts
# (MLP weights, connections, parameters) as a tuple `counts_s1`.

# %% exercise 04-1
counts_s1 = None  # your answer: (mlp_weights, connections, parameters)

# %% jupyter={"source_hidden": true}
if counts_s1 is None:
    print("Exercise 1: not answered yet")
else:
    c = gn.explain.connection_counts(nn.Conv2d(1, 1, 2), (1, 4, 4))
    assert tuple(counts_s1) == (c["mlp_weights"], c["connections"], c["parameters"]), \
        "not yet: 9 outputs now; each sees 4 inputs"
    print("Exercise 1: correct")

# %% [markdown]
# **Exercise 2.** How many parameters does the **locally connected** layer have at stride 1
# (no bias)? `local_params`

# %% exercise 04-2
local_params = None  # your answer

# %% jupyter={"source_hidden": true}
if local_params is None:
    print("Exercise 2: not answered yet")
else:
    layer = nn.LocallyConnected2d(1, 1, (4, 4), 2, bias=False)
    assert local_params == layer.weight.size, "not yet: one 2x2 kernel per output position"
    print("Exercise 2: correct")

# %% [markdown]
# **Exercise 3.** At stride 2, which inputs does y4 see? Give their numbers (x1..x16) as a
# list `y4_inputs`.

# %% exercise 04-3
y4_inputs = None  # your answer: e.g. [1, 2, 5, 6] for y1

# %% jupyter={"source_hidden": true}
if y4_inputs is None:
    print("Exercise 3: not answered yet")
else:
    assert sorted(y4_inputs) == (np.flatnonzero(W[3]) + 1).tolist(), "not yet"
    print("Exercise 3: correct")
