"""Train a small model for N traced steps and print RSS figures as one JSON line.

Usage: python tests/reliability/memory_steps.py --steps 200 --keep 1 [--plain]
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import time

import psutil
import torch

import graphtrace


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--keep", type=int, default=1)
    ap.add_argument("--plain", action="store_true", help="no trace(): the baseline")
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    model = torch.nn.Sequential(
        torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Linear(32, 32), torch.nn.Tanh(), torch.nn.Linear(32, 4)
    )
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    data, target = torch.randn(8, 16), torch.randn(8, 4)
    proc = psutil.Process()
    streamed = []
    json_bytes = 0

    def on_pass(p: graphtrace.Pass) -> None:
        nonlocal json_bytes
        streamed.append(p.index)
        json_bytes += len(p.to_json())

    rss_warm = 0.0
    start = time.perf_counter()
    ctx = contextlib.nullcontext() if args.plain else graphtrace.trace(keep=bool(args.keep), on_pass=on_pass)
    with ctx as t:
        for step in range(args.steps):
            opt.zero_grad()
            loss = torch.nn.functional.mse_loss(model(data), target)
            loss.backward()
            opt.step()
            if step == 19:
                gc.collect()
                rss_warm = proc.memory_info().rss / 2**20
    gc.collect()
    rss_end = proc.memory_info().rss / 2**20
    print(
        json.dumps(
            {
                "steps": args.steps,
                "keep": bool(args.keep),
                "plain": args.plain,
                "passes": 0 if t is None else len(t.passes),
                "streamed": len(streamed),
                "rss_warm_mb": round(rss_warm, 2),
                "rss_end_mb": round(rss_end, 2),
                "json_mb": round(json_bytes / 2**20, 3),
                "seconds": round(time.perf_counter() - start, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
