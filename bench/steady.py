"""The steady state of a long loop traced as ``graphtrace run`` traces it: a step, a forward, tiny ops.

    PYTHONPATH=. python bench/steady.py [--steps 50] [--repeats 9] [--ops 1000]

The tracer is made as ``graphtrace run`` makes it (a Writer's ``count_only``, ``on_pass`` and
``on_counted``, JSON only) and warmed up past its first 300 passes (the first ``ALWAYS`` written
one by one, then the group's 1st, 2nd, 4th, ... recorded in full). Each traced block enters
it, runs two training steps (passes only counted: NOTE [lean steady state]), then is timed;
plain blocks run the same code outside it; the kinds alternate, CPU time of this thread,
medians per step (per op for the tiny-op loop). Lines: a 4-8-1 MLP training step (zero_grad,
forward, MSE, backward, SGD step); its forward alone (forward and MSE, no backward: the work
a TorchFunctionMode sees); a loop of ``--ops`` tiny ops on a 4-element tensor that requires
grad (no backward). Works on trees without the lean state too (their trace keeps its mode on).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn
from workloads import training_mlp

from graphtrace.cli.children import run_tracer
from graphtrace.cli.writer import Writer


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=50, help="steps (forwards) per timed block")
    ap.add_argument("--repeats", type=int, default=9, help="timed blocks of each kind")
    ap.add_argument("--ops", type=int, default=1000, help="ops per tiny-op block")
    args = ap.parse_args()
    torch.set_num_threads(1)
    model, opt, inputs, targets = training_mlp()
    x = torch.randn(4, requires_grad=True)

    def steps(n: int) -> None:
        for _ in range(n):
            opt.zero_grad()
            nn.functional.mse_loss(model(inputs), targets).backward()
            opt.step()

    def forwards(n: int) -> None:
        for _ in range(n):
            nn.functional.mse_loss(model(inputs), targets)

    def tiny(n: int) -> None:
        y = x
        for _ in range(n // 2):
            y = y * 1.0001 + 0.0001
        del y

    lines: list[tuple[str, Callable[[int], None], int]] = [
        ("training step", steps, args.steps),
        ("forward only (MLP forward + MSE)", forwards, args.steps),
        (f"tiny-op loop (per op, {args.ops} ops)", tiny, args.ops),
    ]
    with tempfile.TemporaryDirectory(prefix="graphtrace-bench-") as out:
        writer = Writer(Path(out), ("json",))
        tracer = run_tracer(writer.add, values=True, max_passes=None, check=False, writer=writer)  # as `run` makes it
        with tracer:
            steps(300)
        results = []
        for title, run, n in lines:
            plain, traced = [], []
            for _ in range(args.repeats):
                t0 = time.thread_time()
                run(n)
                plain.append((time.thread_time() - t0) / n)
                with tracer:
                    steps(2)  # as in a loop: the passes before put it in its steady state
                    t0 = time.thread_time()
                    run(n)
                    traced.append((time.thread_time() - t0) / n)
            results.append((title, statistics.median(plain), statistics.median(traced)))
        writer.finish(title="bench", command="bench", notes=[])
    print(f"steady state after {tracer.count} passes (CPU time of this thread, medians); load {os.getloadavg()[0]:.1f}")
    for title, p, t in results:
        print(f"  {title:40s} plain {p * 1e6:8.2f} µs   traced {t * 1e6:8.2f} µs   +{(t - p) * 1e6:7.2f} µs", end="")
        print(f"   {t / p:.2f}x")


if __name__ == "__main__":
    main()
