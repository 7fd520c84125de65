"""Two trees' counted passes in one process: a 4-8-1 MLP training step in the steady state of
`graphtrace run`'s tracer, another checkout's graphtrace (a renamed copy) against this tree's,
and plain, alternated round by round (thread CPU time; medians and paired differences).

    PYTHONPATH=. python bench/counted_trees.py /work/wt/other-checkout [--rounds 41] [--steps 30]

One process, one model and one torch: the two tracers differ only in their own code, so the
paired difference per round is far steadier on a loaded machine than two processes' ratios.
"""

from __future__ import annotations

import argparse
import importlib
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn
from workloads import training_mlp

BASE = "graphtrace_base"  # the other tree's package, copied under this name (its imports are relative)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("base", type=Path, help="a checkout whose graphtrace/ is the 'before'")
    ap.add_argument("--rounds", type=int, default=41)
    ap.add_argument("--steps", type=int, default=30, help="training steps per timed block")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="graphtrace-bench-"))
    try:
        shutil.copytree(args.base / "graphtrace", tmp / BASE, ignore=shutil.ignore_patterns("__pycache__"))
        sys.path.insert(0, str(tmp))
        run(args.rounds, args.steps, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run(rounds: int, n: int, tmp: Path) -> None:
    torch.set_num_threads(1)
    model, opt, inputs, targets = training_mlp()
    clock = time.thread_time_ns

    def steps(k: int) -> tuple[float, float]:
        """(µs per step, µs per backward call)."""
        total = back = 0
        for _ in range(k):
            t0 = clock()
            opt.zero_grad()
            loss = nn.functional.mse_loss(model(inputs), targets)
            t1 = clock()
            loss.backward()
            back += clock() - t1
            opt.step()
            total += clock() - t0
        return total / k / 1000, back / k / 1000

    tracers = {}
    for name in (BASE, "graphtrace"):
        pkg = importlib.import_module(name)
        writer_mod = importlib.import_module(name + ".cli.writer")
        writer = writer_mod.Writer(tmp / f"out-{name}", ("json",))
        # as cli.children.run_tracer makes it (whose own `import graphtrace` would give this tree's to both)
        tracer = pkg.trace(
            on_pass=writer.add,
            keep=False,
            values=True,
            jacobian_passes=writer_mod.ALWAYS,
            value_passes=None,
            check=False,
            count_only=writer.count_only,
            on_counted=writer.add_counted,
        )
        with tracer:
            steps(writer_mod.ALWAYS + 70)  # past the passes written one by one and the group's first 64
        tracers[name] = tracer
    res: dict[str, list[tuple[float, float]]] = {k: [] for k in ("plain", BASE, "graphtrace")}
    for r in range(rounds):
        for k in ("plain", BASE, "graphtrace") if r % 2 == 0 else ("plain", "graphtrace", BASE):
            if k == "plain":
                res[k].append(steps(n))
            else:
                with tracers[k]:
                    res[k].append(steps(n))
    plain = [statistics.median(x[i] for x in res["plain"]) for i in (0, 1)]
    for k, label in ((BASE, "before"), ("graphtrace", "after")):
        s, b = (statistics.median(x[i] for x in res[k]) for i in (0, 1))
        print(
            f"{label:6s} step {s:6.0f} µs ({s / plain[0]:.2f}x plain {plain[0]:.0f})   "
            f"backward call {b:6.0f} µs (+{b - plain[1]:.0f} over plain {plain[1]:.0f})"
        )
    pairs = list(zip(res[BASE], res["graphtrace"]))
    back = statistics.median(a[1] - b[1] for b, a in pairs)
    step = statistics.median(a[0] - b[0] for b, a in pairs)
    print(f"after - before, median of {rounds} paired rounds: backward call {back:+.0f} µs, step {step:+.0f} µs")
    print(f"load {os.getloadavg()[0]:.1f}; passes traced: {tracers[BASE].count} and {tracers['graphtrace'].count}")


if __name__ == "__main__":
    main()
