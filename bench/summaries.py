"""Value summaries alone, two trees alternated in one process: every parameter's value and gradient of a
workload (what each traced pass summarises, NOTE [no leaf value cache]), CPU time per round.

    python bench/summaries.py BEFORE_TREE AFTER_TREE --key W4 --rounds 7

Each tree's ``graphtrace/capture/values.py`` (with the ``_options.py`` it imports) is loaded as a
package of its own, so both summarise the very same tensors in the same rounds.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from measure import step
from workloads import build


def values_of(tree: str, name: str, into: Path) -> ModuleType:
    """``tree``'s graphtrace/capture/values.py, imported as ``name.capture.values``."""
    src = Path(tree) / "graphtrace"
    (into / name / "capture").mkdir(parents=True)
    for part in ("__init__.py", "capture/__init__.py"):
        (into / name / part).write_text("")
    for part in ("_options.py", "_errors.py", "capture/values.py"):
        shutil.copy(src / part, into / name / part)
    module = __import__(f"{name}.capture.values", fromlist=["record"])
    return module


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("before")
    parser.add_argument("after")
    parser.add_argument("--key", default="W4")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        sys.path.insert(0, tmp)
        trees = {
            "before": values_of(args.before, "tree_before", Path(tmp)),
            "after": values_of(args.after, "tree_after", Path(tmp)),
        }
        w = build(args.key)
        step(w.loss, w.params)
        tensors = [p.detach() for p in w.params.values()] + [p.grad for p in w.params.values() if p.grad is not None]
        times: dict[str, list[float]] = {name: [] for name in trees}
        for _ in range(args.rounds):
            for name, values in trees.items():
                t0 = time.process_time()
                for t in tensors:
                    values.record(t, 64)
                times[name].append(time.process_time() - t0)
    b, a = statistics.median(times["before"]), statistics.median(times["after"])
    pairs = sorted(round(y / x, 3) for x, y in zip(times["before"], times["after"]))
    elements = sum(t.numel() for t in tensors) / 1e6
    print(
        f"{args.key}: {len(tensors)} tensors, {elements:.1f}M elements; before {b * 1e3:.1f} ms, after {a * 1e3:.1f} ms"
        f" (CPU, medians of {args.rounds}); after/before {a / b:.3f}, per round {pairs}; load {os.getloadavg()[0]:.1f}"
    )


if __name__ == "__main__":
    main()
