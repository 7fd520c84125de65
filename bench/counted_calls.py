"""Python calls per pass ``graphtrace run`` only counts (cProfile's count: exact, independent of load).

    PYTHONPATH=. python bench/counted_calls.py [--by-file]     # from the tree to count

A 4-8-1 MLP training step as bench/counted.py runs it, traced as ``graphtrace run`` traces it
(its Writer, JSON only); the profile is on around ``loss.backward()`` only, for the 63 passes
of the structure group's members 65-127 (every one only counted: NOTE [which passes are
written]), and the same call without trace() is subtracted.
"""

from __future__ import annotations

import argparse
import collections
import cProfile
import pstats
import tempfile
from pathlib import Path

import torch
from torch import nn
from workloads import training_mlp

from graphtrace.cli.children import run_tracer
from graphtrace.cli.writer import ALWAYS, Writer

PASSES = 63


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--by-file", action="store_true", help="calls per counted pass by file (builtins to their caller's)"
    )
    args = ap.parse_args()
    torch.set_num_threads(1)
    model, opt, inputs, targets = training_mlp()

    def steps(n: int, profile: cProfile.Profile | None = None) -> None:
        for _ in range(n):
            opt.zero_grad()
            loss = nn.functional.mse_loss(model(inputs), targets)
            if profile is not None:
                profile.enable()
            loss.backward()
            if profile is not None:
                profile.disable()
            opt.step()

    plain = cProfile.Profile()
    steps(PASSES, plain)
    with tempfile.TemporaryDirectory(prefix="graphtrace-bench-") as out:
        writer = Writer(Path(out), ("json",))
        tracer = run_tracer(writer.add, values=True, max_passes=None, check=False, writer=writer)  # as `run` makes it
        traced = cProfile.Profile()
        with tracer:
            steps(ALWAYS + 64)  # the group's members 1-64
            steps(PASSES, traced)  # members 65-127: all only counted
        writer.finish(title="bench", command="bench", notes=[])
    assert tracer.count == ALWAYS + 64 + PASSES

    def by_file(p: cProfile.Profile) -> collections.Counter[str]:
        files: collections.Counter[str] = collections.Counter()
        for (file, _, _), (_, calls, _, _, callers) in pstats.Stats(p).stats.items():  # type: ignore[attr-defined]
            if file == "~":  # a builtin: counted at its callers
                for (caller, _, _), counts in callers.items():
                    files[caller.rsplit("/", 1)[-1]] += counts[1]
            else:
                files[file.rsplit("/", 1)[-1]] += calls
        return files

    before, after = by_file(plain), by_file(traced)

    def calls(p: cProfile.Profile) -> int:
        return sum(v[1] for v in pstats.Stats(p).stats.values())  # type: ignore[attr-defined]

    total = (calls(traced) - calls(plain)) / PASSES
    print(f"calls per counted pass (the backward call traced, less the plain one): {total:.0f}")
    if args.by_file:
        for name in sorted(after, key=lambda f: before[f] - after[f]):
            if after[name] != before[name]:  # a builtin called from several places counts at each
                print(f"  {(after[name] - before[name]) / PASSES:6.0f}  {name}")


if __name__ == "__main__":
    main()
