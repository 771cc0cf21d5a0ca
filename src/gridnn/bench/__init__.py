"""``gridnn bench``: gridnn against PyTorch on the same float32 arrays, each library in its
own fresh process.

Cases (N = batch, C in, K out), each timed forward and forward+backward (gradients of input,
weight and bias):

    L1 conv2d N=64  C=1   28x28 K=32  3x3 s1 p1      L4 conv2d N=64  C=3   32x32 K=12  5x5 s1 p2
    L2 conv2d N=64  C=32  28x28 K=64  3x3 s1 p1      L5 conv2d N=32  C=128 16x16 K=128 3x3 s2 p1
    L3 conv2d N=64  C=64  14x14 K=128 3x3 s1 p1      C1 conv1d N=256 C=1   40    K=32  5   s2 p2
    P1 max_pool2d 2x2 stride 2 on N=64 C=32 28x28

and the model cases: T1 (a training step of a small MNIST CNN, batch 128, SGD momentum 0.9),
I1 (its inference at batch 256), T2 (a ``resnet_small`` training step on 3x32x32, batch 128,
SGD momentum), T3 (an ``mnist1d_cnn`` training step, batch 64, AdamW) and M1 (peak resident
memory of a fresh process doing 50 T1 steps, per library). The PyTorch models are the twins of
gridnn's (``twin``), with the same weights.

Each block is one fresh process (``child``) timing every case in one library; the blocks
alternate (gridnn, torch, gridnn at one thread, torch at one thread) for ``--rounds`` rounds, so
that a change of the machine's load falls on both libraries and the rounds show how much a
figure moves from one process to the next. NumPy's float32 GEMM speed, the ceiling of
im2col + GEMM, is measured in every block.

Files: ``cases`` (the layer cases), ``steps`` (the model cases), ``twin`` (a gridnn model's
PyTorch twin), ``measure`` (timing, machine facts, peak memory), ``child`` (one block),
``report`` (rows and their Markdown tables), ``cli`` (the subcommand and
``python benchmarks/speed.py``). The package sits above the library: nothing in gridnn imports
it except the command line, which loads it by name.
"""
