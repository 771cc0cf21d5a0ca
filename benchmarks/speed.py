"""Speed benchmark of gridnn against PyTorch (issues 5 and 12); the same as ``gridnn bench``.

    python benchmarks/speed.py [--quick] [--rounds 4] [--json FILE] [--only L2,T1] [--reps N]
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/speed.py

Results and the machine they came from: benchmarks/RESULTS.md.
"""

from gridnn.bench.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
