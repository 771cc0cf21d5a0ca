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
# # Solutions to the exercises
# One cell per exercise, titled by tutorial and exercise number. Try first!
# (`tests/test_tutorials.py` puts each cell in its exercise and runs the tutorial.)

# %% [markdown]
# ## 1. A convolution by hand

# %% solution 01-1
b1 = 5.0  # every output is -5 without a bias

# %% solution 01-2
# windows: [1 2; 5 6] -> 2 + 5, [3 4; 7 8] -> 4 + 7, [9 10; 13 14] -> 10 + 13, ...
y2x2 = [[7, 11], [23, 27]]

# %% solution 01-3
n_out = 16  # (6 - 3) // 1 + 1 = 4 positions across, 4 down

# %% [markdown]
# ## 2. Stride, padding, dilation

# %% solution 02-1
length_out = (100 - 5) // 3 + 1  # 32

# %% solution 02-2
p = 2  # 7 + 2 * 2 - 5 + 1 = 7

# %% solution 02-3
span = 9  # taps at 0, 4, 8: the window covers d * (k - 1) + 1 = 9 inputs

# %% [markdown]
# ## 3. Channels and feature maps

# %% solution 03-1
n_params = 12 * 3 * 5 * 5 + 12  # 912

# %% solution 03-2
import numpy as np

gray = np.full((1, 3, 1, 1), 1 / 3)

# %% solution 03-3
maps_shape = (16, 16, 16)

# %% [markdown]
# ## 4. A convolution is an MLP

# %% solution 04-1
counts_s1 = (16 * 9, 9 * 4, 4)  # (144, 36, 4)

# %% solution 04-2
local_params = 9 * 4  # 36

# %% solution 04-3
y4_inputs = [11, 12, 15, 16]

# %% [markdown]
# ## 5. Learning the kernel

# %% solution 05-1
dw4 = sum(dy[i, j] * x[i + 1, j + 1] for i in range(3) for j in range(3))

# %% solution 05-2
db = dy.sum()

# %% [markdown]
# ## 6. Train and look inside

# %% solution 06-1
local_params = 12 * 12 * 16 * 9 + 12 * 12 * 16  # 23,040

# %% solution 06-2
rf, rf3 = 5, 7
