"""Where one training step's time goes: wall time per op (forward and backward of each
``autograd.Function`` subclass), the rest of the step as "outside the ops".

    python benchmarks/profile_step.py                       # fashion_cnn, batch 128, AdamW
    python benchmarks/profile_step.py --model resnet_small --sample 3,32,32 --optimizer sgd
    python benchmarks/profile_step.py --threads 1 --numpy   # one thread, NumPy passes only
    python benchmarks/profile_step.py --inference mobilenet_v2 --batch 1   # eval-mode forward
    python benchmarks/profile_step.py --threads 1 --cpu     # CPU time: steadier on a busy machine

``--inference`` times the forward pass of a model of ``gridnn.bench.zoo_shapes`` (torchvision's
layer shapes) or of an ONNX file (``--inference /work/onnx-zoo/resnet18.onnx``) on 3x224x224
images under ``no_grad``; convolutions are split by kind (depthwise, 1x1, k x k, grouped).

The step is ``gridnn.bench.steps``'s (the same as ``gridnn bench``'s T cases). Each op's
forward and backward are wrapped in a timer, which adds a few microseconds per call: compare
steps under the same script, not with ``gridnn bench``.
"""

from __future__ import annotations

import argparse
import collections
import time
from typing import Any

import numpy as np


def _subclasses(cls: type) -> list[type]:
    return [c for s in cls.__subclasses__() for c in (s, *_subclasses(s))]


def _conv_kind(w: Any, geometry: Any) -> str:
    """'depthwise', 'grouped', '1x1' or 'kxk' for a convolution's weight and geometry."""
    if geometry.groups > 1:
        return "depthwise" if w.shape[1] == 1 else "grouped"
    return "1x1" if all(k == 1 for k in w.shape[2:]) else "kxk"


def _step(model: str, sample: tuple[int, ...], batch: int, optimizer: str,
          inference: bool) -> Any:
    if not inference:
        from gridnn.bench.steps import ModelCase, gridnn_call

        return gridnn_call(ModelCase("P", model, sample, batch, True, optimizer))
    from gridnn import Tensor, no_grad

    if model.endswith(".onnx"):
        import gridnn.onnx

        net = gridnn.onnx.load(model).eval()
    else:
        from gridnn.bench.zoo_shapes import MODELS

        net = MODELS[model]()
    x = Tensor(np.random.default_rng(1).standard_normal((batch, 3, 224, 224), np.float32))

    def forward() -> None:
        with no_grad():
            net(x)
    return forward


def profile(model: str, sample: tuple[int, ...], batch: int, optimizer: str, steps: int,
            inference: bool = False, clock: Any = time.perf_counter
            ) -> tuple[float, dict[str, float]]:
    """(median step ms, {'Op.forward': ms per step, ...}) over ``steps`` steps, timed by
    ``clock`` (``time.thread_time``: this thread's CPU time, which a shared machine's load
    disturbs less; meaningful with one thread)."""
    from gridnn import autograd
    from gridnn._allocator import keep_freed_memory

    keep_freed_memory()  # as the gridnn command runs
    step = _step(model, sample, batch, optimizer, inference)
    for _ in range(3):
        step()
    spent: dict[str, float] = collections.defaultdict(float)

    def timed(fn: Any, key: str) -> Any:
        def run(*args: Any, **kwargs: Any) -> Any:
            start = clock()
            try:
                return fn(*args, **kwargs)
            finally:
                name = key
                if key == "ConvNd.forward":
                    name = f"{key}[{_conv_kind(args[2], kwargs['geometry'])}]"
                spent[name] += clock() - start
        return run

    for cls in set(_subclasses(autograd.Function)):
        for name in ("forward", "backward"):
            if name in cls.__dict__:
                setattr(cls, name, timed(cls.__dict__[name], f"{cls.__name__}.{name}"))
    times = []
    for _ in range(steps):
        start = clock()
        step()
        times.append(clock() - start)
    return 1e3 * float(np.median(times)), {k: 1e3 * v / steps for k, v in spent.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="fashion_cnn")
    parser.add_argument("--sample", default="1,28,28", help="one input's shape, e.g. 3,32,32")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--optimizer", choices=("sgd", "adamw"), default="adamw")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--threads", type=int, help="BLAS and gridnn threads (default: all)")
    parser.add_argument("--numpy", action="store_true", help="no compiled loops")
    parser.add_argument("--cpu", action="store_true", help="time this thread's CPU time "
                        "instead of wall time (with --threads 1, on a busy machine)")
    parser.add_argument("--inference", metavar="MODEL", help="time the eval forward of a "
                        "zoo_shapes model (mobilenet_v2, resnet18) or an .onnx file instead")
    args = parser.parse_args(argv)
    from threadpoolctl import threadpool_limits

    from gridnn.ops.options import using

    sample = tuple(int(v) for v in args.sample.split(","))
    with threadpool_limits(args.threads, user_api="blas"), using(compiled=not args.numpy):
        step_ms, ops = profile(args.inference or args.model, sample, args.batch, args.optimizer,
                               args.steps, args.inference is not None,
                               time.thread_time if args.cpu else time.perf_counter)
    print(f"{args.inference or args.model} batch {args.batch}: step {step_ms:.2f} ms "
          f"{'CPU ' if args.cpu else ''}(median of {args.steps})")
    for key, ms in sorted(ops.items(), key=lambda kv: -kv[1]):
        if ms >= 0.01:
            print(f"  {key:<32} {ms:7.2f} ms")
    print(f"  {'outside the ops':<32} {step_ms - sum(ops.values()):7.2f} ms (about)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
