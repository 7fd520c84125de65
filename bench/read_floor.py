"""The floor of a traced step with values on: one read of every parameter and gradient element.

A full recording summarises each leaf's value and each gradient reaching it (NOTE [summary
cost] in capture/values.py): every element is read at least once, so no recording can cost less
than that read. This measures it next to the plain step, alternated in one process:

    python bench/read_floor.py --key W4 --repeats 7 --threads 1

and prints the plain step (``measure.step``: gradients to None, forward, backward), one
``sum`` over every parameter and every gradient (the cheapest full read torch has), and
``(step + read) / step``: the lowest traced/plain ratio any exact summary could reach.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from measure import paired, step
from workloads import build


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--key", default="W4")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--max-seconds", type=float, default=120.0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    w = build(args.key)
    params = list(w.params.values())
    step(w.loss, w.params)  # every gradient exists from here on

    def read() -> None:
        for p in params:
            p.sum()
            if p.grad is not None:
                p.grad.sum()

    times = paired({"step": lambda: step(w.loss, w.params), "read": read}, args.repeats, args.max_seconds)
    s, r = statistics.median(times["step"]), statistics.median(times["read"])
    elements = sum(p.numel() for p in params)
    gb = 2 * sum(p.numel() * p.element_size() for p in params) / 1e9
    print(
        f"{args.key}: {elements:,} parameter elements, {gb:.2f} GB of values and gradients, "
        f"torch threads {args.threads}, medians of {len(times['step'])}"
    )
    print(f"  plain step      {1000 * s:8.1f} ms")
    print(f"  one read        {1000 * r:8.1f} ms  ({gb / r:.1f} GB/s)")
    print(f"  floor           {(s + r) / s:8.3f}x  (the step plus one read, over the step)")


if __name__ == "__main__":
    main()
