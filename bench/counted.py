"""Cost of the passes ``graphtrace run`` only counts: a small-MLP training step after pass 20.

    PYTHONPATH=. python bench/counted.py [--steps 50] [--repeats 15] [--width 8] [--layers 1]

The tracer is made as ``graphtrace run`` makes it (its Writer as ``on_pass``, JSON only),
warmed up past the first ``ALWAYS`` passes (the ones written one by one); then blocks of
``--steps`` training steps (zero_grad, forward, MSE, backward, SGD step) run inside the
trace and outside it, alternated, and the medians per step and their ratio are printed.
``--split`` adds a third kind of block, alternated with the two: the same trace with the
recording of backward calls switched off (``Tracer._backward`` calls torch's function
directly; with the lean steady state, ``Tracer._record`` runs the call and the tracer goes
on deciding to stay lean as after a counted pass), so the forward's share (the
TorchFunctionMode and provenance, or what is left of them while lean) and the passes' share
of the traced step show apart.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

import graphtrace
from graphtrace.cli.writer import ALWAYS, Writer


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=50, help="training steps per timed block")
    ap.add_argument("--repeats", type=int, default=15, help="timed blocks of each kind")
    ap.add_argument("--width", type=int, default=8, help="hidden width (examples/mlp_training.py: 8)")
    ap.add_argument("--layers", type=int, default=1, help="hidden layers (4-64x3-1: --width 64 --layers 3)")
    ap.add_argument("--cpu", action="store_true", help="CPU time of this process, not wall-clock (a shared machine)")
    ap.add_argument("--split", action="store_true", help="also time the trace with backward calls not recorded")
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    inputs = torch.randn(16, 4)
    targets = torch.sin(inputs.sum(dim=1, keepdim=True))
    mods: list[nn.Module] = []
    width_in = 4
    for _ in range(args.layers):
        mods += [nn.Linear(width_in, args.width), nn.Tanh()]
        width_in = args.width
    model = nn.Sequential(*mods, nn.Linear(width_in, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)

    clock = time.process_time if args.cpu else time.perf_counter

    def steps(n: int) -> float:
        t0 = clock()
        for _ in range(n):
            opt.zero_grad()
            nn.functional.mse_loss(model(inputs), targets).backward()
            opt.step()
        return (clock() - t0) / n

    with tempfile.TemporaryDirectory(prefix="graphtrace-bench-") as out:
        writer = Writer(Path(out), ("json",))
        # as `graphtrace run` makes it (cli/children.py run_tracer), on older trees too
        light = {}
        if hasattr(writer, "count_only"):
            light = {"count_only": writer.count_only, "on_counted": writer.add_counted}
        tracer = graphtrace.trace(on_pass=writer.add, keep=False, jacobian_passes=ALWAYS, **light)
        with tracer:
            steps(ALWAYS + 5)  # past the passes written one by one
        steps(args.steps)
        plain, traced, forward = [], [], []
        for _ in range(args.repeats):
            plain.append(steps(args.steps))
            with tracer:
                traced.append(steps(args.steps))
            if args.split:
                if hasattr(tracer, "_record"):  # NOTE [lean steady state]: skip the pass, keep going lean
                    sig = tracer._recent[-1]

                    def skip(entry, bound, call, a, kw, door):  # type: ignore[no-untyped-def]
                        out = door(call, a, kw)
                        tracer._steady(True, sig)
                        return out

                    tracer._record = skip  # type: ignore[method-assign]
                    with tracer:
                        forward.append(steps(args.steps))
                    del tracer._record
                else:
                    record = tracer._backward
                    tracer._backward = lambda entry, a, kw, door=None: entry.function(*a, **kw)  # type: ignore[method-assign]
                    with tracer:
                        forward.append(steps(args.steps))
                    tracer._backward = record  # type: ignore[method-assign]
        writer.finish(title="bench", command="bench", notes=[])
        counted = tracer.count
    p, t = statistics.median(plain), statistics.median(traced)
    paired = statistics.median(b / a for a, b in zip(plain, traced))
    what = "CPU time" if args.cpu else "wall-clock"
    print(f"MLP 4-{args.width}x{args.layers}-1 training step after pass {ALWAYS} ({counted} passes traced), {what}:")
    print(
        f"  plain {p * 1e6:.0f} µs   traced {t * 1e6:.0f} µs   +{(t - p) * 1e6:.0f} µs   "
        f"ratio {t / p:.2f}x (median of paired ratios {paired:.2f}x)   load {os.getloadavg()[0]:.1f}"
    )
    if forward:
        f = statistics.median(forward)
        print(
            f"  in trace(), backward not recorded {f * 1e6:.0f} µs ({f / p:.2f}x): forward +{(f - p) * 1e6:.0f} µs, "
            f"the pass +{(t - f) * 1e6:.0f} µs"
        )


if __name__ == "__main__":
    main()
