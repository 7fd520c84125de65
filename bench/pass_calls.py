"""Python calls per traced step of W1-W3 (cProfile's count: exact, independent of load), and the
elements the value summaries read.

PYTHONPATH=. python bench/pass_calls.py         # from the tree to count
PYTHONPATH=. python bench/pass_calls.py W4:1    # other workloads, KEY:STEPS
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
    from graphtrace.capture import values

    w = build(key)
    stats = values._stats
    read = [0]

    def counted(t: torch.Tensor, acc: torch.dtype) -> list[float]:
        read[0] += t.numel()
        return stats(t, acc)

    def traced() -> None:
        with graphtrace.trace():
            step(w.loss, w.params)

    for _ in range(3):
        traced()
    values._stats = counted  # type: ignore[assignment]  # one step counted apart: no call added to the profile
    traced()
    values._stats = stats  # type: ignore[assignment]
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
        f"{key}: calls {total:,.0f}, torch builtins {builtins:,.0f}, records {records:.0f}, summaries {summaries:.0f},"
        f" elements summarised {read[0] / 1e6:.2f}M"
    )


if __name__ == "__main__":
    torch.set_num_threads(1)
    runs = [(a.split(":")[0], int(a.split(":")[1])) for a in sys.argv[1:]] or [("W1", 50), ("W2", 20), ("W3", 3)]
    for key, steps in runs:
        print(counts(key, steps))
