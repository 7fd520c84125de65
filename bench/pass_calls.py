"""Python calls per traced step of W1-W3 (cProfile's count: exact, independent of load).

PYTHONPATH=. python bench/pass_calls.py     # from the tree to count
"""

from __future__ import annotations

import cProfile
import pstats
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from measure import step
from workloads import build

import graphtrace


def counts(key: str, steps: int) -> str:
    w = build(key)

    def traced() -> None:
        with graphtrace.trace():
            step(w.loss, w.params)

    for _ in range(3):
        traced()
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(steps):
        traced()
    profile.disable()
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]  # (file, line, name) -> counts

    def per_step(keep: object) -> float:
        return sum(v[1] for k, v in stats.items() if keep(k)) / steps  # type: ignore[operator]

    total = per_step(lambda k: True)
    builtins = per_step(lambda k: k[0] == "~" and ("torch" in k[2] or "Tensor" in k[2]))
    records = per_step(lambda k: k[2] == "record" and k[0].endswith("values.py"))
    summaries = per_step(lambda k: k[2] == "_summary")
    return (
        f"{key}: calls {total:,.0f}, torch builtins {builtins:,.0f}, records {records:.0f}, summaries {summaries:.0f}"
    )


if __name__ == "__main__":
    torch.set_num_threads(1)
    for key, steps in (("W1", 50), ("W2", 20), ("W3", 3)):
        print(counts(key, steps))
