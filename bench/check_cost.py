"""The cost of ``trace(check=True)`` (issue 15): plain, traced and checked fwd+bwd, interleaved in one process.

    python bench/check_cost.py            # prints a Markdown table of medians and ratios

Each round runs the three modes one after the other on the same workload, so drift and load hit
all three alike; the table gives medians over the rounds and ratios against plain of the same run.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

import graphtrace


def seed000() -> None:
    x = torch.tensor(7.0, requires_grad=True)
    torch.sin(x**3 + 4).backward()


def seed003() -> None:
    x = torch.tensor([2.0, -1.0, 0.5], requires_grad=True)
    (torch.sigmoid(x).sum() + torch.relu(x).sum()).backward()


def mlp() -> Callable[[], None]:
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    data = torch.randn(3, 4)

    def step() -> None:
        net.zero_grad(set_to_none=True)
        net(data).pow(2).mean().backward()
    return step


def timed(fn: Callable[[], None], mode: str) -> float:
    start = time.process_time()  # CPU time: the machine may be shared
    if mode == "plain":
        fn()
    else:
        with graphtrace.trace(check=mode == "checked"):
            fn()
    return time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    torch.set_num_threads(1)
    workloads = {"seed000 sin(x**3+4)": seed000, "seed003 sigmoid+relu [3]": seed003, "MLP 4-8-1, batch 3": mlp()}
    print("| workload | plain | traced | checked | traced / plain | checked / plain | checked / traced |")
    print("|---|---|---|---|---|---|---|")
    for name, fn in workloads.items():
        times: dict[str, list[float]] = {"plain": [], "traced": [], "checked": []}
        for _ in range(3):  # warm-up
            for mode in times:
                timed(fn, mode)
        for _ in range(args.rounds):
            for mode in times:
                times[mode].append(timed(fn, mode))
        m = {k: statistics.median(v) for k, v in times.items()}
        print(f"| {name} | {m['plain'] * 1e3:.2f} ms | {m['traced'] * 1e3:.2f} ms | {m['checked'] * 1e3:.2f} ms | "
              f"{m['traced'] / m['plain']:.1f}x | {m['checked'] / m['plain']:.1f}x | {m['checked'] / m['traced']:.1f}x |")


if __name__ == "__main__":
    main()
