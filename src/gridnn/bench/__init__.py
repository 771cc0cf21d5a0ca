"""``gridnn bench``: gridnn against PyTorch on the same float32 arrays, in one process.

Cases (N = batch, C in, K out), each timed forward and forward+backward (gradients of input,
weight and bias):

    L1 conv2d N=64  C=1   28x28 K=32  3x3 s1 p1      L4 conv2d N=64  C=3   32x32 K=12  5x5 s1 p2
    L2 conv2d N=64  C=32  28x28 K=64  3x3 s1 p1      L5 conv2d N=32  C=128 16x16 K=128 3x3 s2 p1
    L3 conv2d N=64  C=64  14x14 K=128 3x3 s1 p1      C1 conv1d N=256 C=1   40    K=32  5   s2 p2
    P1 max_pool2d 2x2 stride 2 on N=64 C=32 28x28

plus T1 (training steps/s of a small MNIST CNN, batch 128, SGD momentum 0.9), I1 (its inference
at batch 256) and M1 (peak resident memory of a fresh process doing 50 T1 steps, per library).

Every time is the median of at least ``--reps`` repetitions after warm-up, with min-max, taken
in two alternating blocks per library (gridnn, torch, gridnn, torch) so that a change of the
machine's load falls on both. PyTorch gets as many threads as the BLAS under NumPy uses. The
ceiling is NumPy's float32 GEMM speed on the machine.

Files: ``cases`` (what is timed: the layer cases and the small CNN in both libraries),
``measure`` (timing, machine facts, peak memory), ``report`` (result rows and their Markdown
tables), ``cli`` (the subcommand and ``python benchmarks/speed.py``). The package sits above
the library: nothing in gridnn imports it except the command line, which loads it by name.
"""
