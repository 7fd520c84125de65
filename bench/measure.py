"""One measurement in a fresh process: times (medians of repeats) and the process's peak RSS."""

from __future__ import annotations

import gc
import json
import resource
import statistics
import sys
import time
from typing import Callable

import torch

from workloads import build

MODES = ("step", "draw", "view", "plain", "trace", "fwd")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def samples(fn: Callable[[], object], repeats: int, max_seconds: float, warmup: bool = True) -> list[float]:
    """Seconds per call: a warmup call, then up to ``repeats`` timed calls within ``max_seconds``.

    Calls faster than 50 ms are looped so each sample lasts about 0.1 s.
    """
    return paired({"x": fn}, repeats, max_seconds, warmup)["x"]


def paired(fns: dict[str, Callable[[], object]], repeats: int, max_seconds: float,
           warmup: bool = True) -> dict[str, list[float]]:
    """Like ``samples`` for several functions, alternated (ABAB...) so that load drift on a
    shared machine hits them alike."""
    start = time.perf_counter()
    loops = {}
    for name, fn in fns.items():
        if warmup:
            fn()
        t0 = time.perf_counter()
        fn()
        first = time.perf_counter() - t0
        loops[name] = max(1, int(0.1 / first)) if first < 0.05 else 1
    out: dict[str, list[float]] = {name: [] for name in fns}
    while min(len(v) for v in out.values()) < repeats and (time.perf_counter() - start < max_seconds
                                                            or not all(out.values())):
        for name, fn in fns.items():
            gc.collect()
            t0 = time.perf_counter()
            for _ in range(loops[name]):
                fn()
            out[name].append((time.perf_counter() - t0) / loops[name])
    return out


def step(loss_fn: Callable[[], torch.Tensor], params: dict) -> None:
    """One training-style step: gradients set to None (``zero_grad()``), forward, backward."""
    for p in params.values():
        p.grad = None
    loss_fn().backward()


TINY_OPS = 1000  # ops per call of the tiny-op loop (the forward-only line)


def tiny_loop(grad: bool) -> Callable[[], object]:
    """A loop of TINY_OPS elementwise ops on a 4-element tensor, with autograd (a graph is built) or
    under no_grad (as an optimizer step runs)."""
    x = torch.randn(4, requires_grad=True)

    def loop() -> object:
        y = x
        for _ in range(TINY_OPS // 2):
            y = y * 1.0001 + 0.0
        return y

    if grad:
        return loop

    def no_grad() -> object:
        with torch.no_grad():
            return loop()
    return no_grad


def forward(key: str, repeats: int, max_seconds: float) -> dict:
    """Forward-only work (no backward), plain, inside ``graphtrace.trace()`` and inside a mode that
    does nothing, alternated; each sample runs ``per_block`` forwards (about 50 ms) in one block."""
    import graphtrace

    fn = tiny_loop(key == "tiny") if key in ("tiny", "tiny-nograd") else build(key).loss
    fn()
    t0 = time.perf_counter()
    fn()
    per_block = max(1, int(0.05 / (time.perf_counter() - t0)))

    def plain() -> None:
        for _ in range(per_block):
            fn()

    def traced() -> None:
        with graphtrace.trace():
            for _ in range(per_block):
                fn()

    def empty() -> None:  # the floor: a TorchFunctionMode that only calls through
        with Passthrough():
            for _ in range(per_block):
                fn()
    res: dict = {"key": key, "mode": "fwd", "per_block": per_block}
    res.update(paired({"plain": plain, "trace": traced, "empty": empty}, repeats, max_seconds))
    return res


class Passthrough(torch.overrides.TorchFunctionMode):
    def __torch_function__(self, func, types, args=(), kwargs=None):
        return func(*args, **(kwargs or {}))


def measure(key: str, mode: str, repeats: int, max_seconds: float) -> dict:
    import graphtrace

    if mode == "fwd":
        return forward(key, repeats, max_seconds)
    w = build(key)
    res: dict = {"key": key, "mode": mode}

    def traced() -> None:
        with graphtrace.trace() as t:
            step(w.loss, w.params)
        res["nodes"] = t.passes[-1].graph.number_of_nodes()

    if mode == "plain":  # peak RSS of plain steps
        res["times"] = samples(lambda: step(w.loss, w.params), min(repeats, 2), max_seconds)
    elif mode == "trace":  # peak RSS of traced steps
        res["times"] = samples(traced, min(repeats, 2), max_seconds)
    elif mode == "step":  # plain and traced forward+backward, alternated
        res.update(paired({"plain": lambda: step(w.loss, w.params), "trace": traced}, repeats, max_seconds))
        from graphtrace.capture.values import VALUE_LIMIT, record

        leaves = list(w.params.values())  # NOTE [no leaf value cache]: part of every traced pass
        res["leaves"] = samples(lambda: [record(p, VALUE_LIMIT) for p in leaves], repeats, max_seconds)
    elif mode == "draw":  # torchviz and graphtrace drawing the same graph, alternated
        from torchviz import make_dot

        sys.setrecursionlimit(20000)  # torchviz walks the graph recursively
        out = w.loss()
        snap, svg = [], []

        def torchviz() -> None:
            dot = make_dot(out, params=w.params)
            res["torchviz_svg_bytes"] = len(dot.pipe(format="svg"))
            res["torchviz_nodes"] = sum(1 for line in dot.body if "[label=" in line)

        def ours() -> None:
            t0 = time.perf_counter()
            p = graphtrace.snapshot(out)
            t1 = time.perf_counter()
            res["svg_bytes"] = len(p.to_svg(budget=10**9))  # the whole graph, like torchviz
            snap.append(t1 - t0)
            svg.append(time.perf_counter() - t1)
            res["nodes"] = p.graph.number_of_nodes()
        res.update(paired({"torchviz": torchviz, "graphtrace": ours}, repeats, max_seconds))
        res["snapshot"], res["svg"] = statistics.median(snap), statistics.median(svg)
    elif mode == "view":  # reduced views of a traced pass
        from graphtrace.render import views

        with graphtrace.trace() as t:
            step(w.loss, w.params)
        p = t.passes[-1]
        res["nodes"] = p.graph.number_of_nodes()
        res["apply"] = samples(lambda: views.apply(p.graph), repeats, max_seconds, warmup=False)
        v = views.apply(p.graph)
        res["shown"], res["note"] = v.number_of_nodes(), v.graph.get("view_note", "")
        res["times"] = samples(lambda: p.to_svg(), repeats, max_seconds, warmup=False)
        res["fold_times"] = samples(lambda: p.to_svg(fold=True, depth=4), repeats, max_seconds, warmup=False)
        res["full_times"] = samples(lambda: p.to_svg(budget=10**9), 1, max_seconds, warmup=False)
    res["peak_rss_mb"] = peak_rss_mb()
    return res


def main() -> None:
    key, mode, repeats, max_seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    threads = int(sys.argv[5]) if len(sys.argv) > 5 else 1
    if threads:
        torch.set_num_threads(threads)
    try:
        res = measure(key, mode, repeats, max_seconds)
    except Exception as exc:  # reported in the table, not fatal to the whole run
        res = {"key": key, "mode": mode, "error": f"{type(exc).__name__}: {exc}"[:300]}
    print("RESULT " + json.dumps(res), flush=True)


if __name__ == "__main__":
    main()
