"""CPU time of drawing a whole graph, graphtrace vs torchviz, the dot processes included.

    python bench/draw_cpu.py W1 W2 W3 --repeats 20

In one process per workload, alternated: torchviz ``make_dot(out, params).pipe('svg')`` and
``graphtrace.snapshot(out).to_svg(budget=10**9)``. CPU = this process (time.process_time) plus
every dot it ran: waited children (RUSAGE_CHILDREN) and the kept dot (/proc/<pid>/stat), so the
figures hold on a loaded machine where wall times do not. Also prints the first picture of a
fresh process (dot's start-up included) and the DOT bytes of both. Medians.

``--before TREE`` (another checkout, e.g. ``git archive main | tar -x -C TREE``) also measures
graphtrace from TREE (``PYTHONPATH``): the warm processes of the two trees alternate over
``--rounds`` rounds (default 3), each with torchviz in it, so both sides share the machine's load;
the first-picture processes are then left out.

``--phases``: where one picture's CPU goes, in one process per workload with torchviz alternated:
snapshot, views.apply, to_dot, graphviz.pipe's Python side, dot (children), the SVG finish.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TICK = os.sysconf("SC_CLK_TCK")


def _kept_cpu() -> float:
    """CPU seconds of this process's kept dot so far (0 when there is none)."""
    try:
        from graphtrace.render import _kept
    except ImportError:  # a tree without it
        return 0.0
    if not _kept._kept:
        return 0.0
    fields = Path(f"/proc/{_kept._kept[0].proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def _cpu() -> float:
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + kids.ru_utime + kids.ru_stime + _kept_cpu()


def one(key: str, repeats: int, first: str) -> dict[str, object]:
    import torch

    torch.set_num_threads(1)
    sys.path.insert(0, str(HERE))
    from torchviz import make_dot
    from workloads import build

    import graphtrace

    sys.setrecursionlimit(20000)
    w = build(key)
    out = w.loss()

    def ours() -> None:
        graphtrace.snapshot(out).to_svg(budget=10**9)

    def theirs() -> None:
        make_dot(out, params=w.params).pipe(format="svg")

    res: dict[str, object] = {}
    fns = {"torchviz": theirs, "graphtrace": ours}
    if first:  # the first picture of a fresh process: dot's start-up and font lookups included
        from graphtrace import render

        render.to_dot(graphtrace.snapshot(out).graph, budget=10**9)  # Python's first-call work left out
        make_dot(out, params=w.params).source
        t0 = _cpu()
        fns[first]()
        return {first: _cpu() - t0}
    times: dict[str, list[float]] = {k: [] for k in fns}
    for fn in fns.values():
        fn()  # warm up
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = _cpu()
            fn()
            times[name].append(_cpu() - t0)
    res = {k: statistics.median(v) for k, v in times.items()}
    from graphtrace import render

    res["dot_bytes"] = len(render.to_dot(graphtrace.snapshot(out).graph, budget=10**9))
    res["torchviz_dot_bytes"] = len(make_dot(out, params=w.params).source)
    return res


def phases(key: str, repeats: int) -> str:
    """One line: the median CPU ms of each phase of ``snapshot(out).to_svg(budget=10**9)`` and of torchviz."""
    import graphviz
    import torch

    torch.set_num_threads(1)
    sys.path.insert(0, str(HERE))
    from torchviz import make_dot
    from workloads import build

    import graphtrace
    from graphtrace.render import _svg, views
    from graphtrace.render._dot import to_dot_source

    sys.setrecursionlimit(20000)
    w = build(key)
    out = w.loss()
    names = ("snapshot", "apply", "to_dot", "pipe", "dot", "finish", "make_dot", "tv pipe", "tv dot")
    got: dict[str, list[float]] = {k: [] for k in names}

    def kids() -> float:
        r = resource.getrusage(resource.RUSAGE_CHILDREN)
        return r.ru_utime + r.ru_stime

    for i in range(repeats + 1):  # the first round warms up
        t0, k0 = time.process_time(), kids()
        d = make_dot(out, params=w.params)
        t1 = time.process_time()
        d.pipe(format="svg")
        t2, k2 = time.process_time(), kids()
        p = graphtrace.snapshot(out)
        t3 = time.process_time()
        v = views.apply(p.graph, budget=10**9)
        t4 = time.process_time()
        src = to_dot_source(v)
        t5, k5 = time.process_time(), kids()
        raw = graphviz.pipe("dot", "svg", src.encode("utf-8", "backslashreplace"), quiet=True)
        t6, k6 = time.process_time(), kids()
        _svg.finish(raw.decode("utf-8"))
        t7 = time.process_time()
        if i:
            for k, x in zip(names, (t3 - t2, t4 - t3, t5 - t4, t6 - t5, k6 - k5, t7 - t6, t1 - t0, t2 - t1, k2 - k0)):
                got[k].append(x)
    m = {k: statistics.median(v) * 1e3 for k, v in got.items()}
    ours = sum(m[k] for k in names[:6])
    theirs = sum(m[k] for k in names[6:])
    return (
        f"{key}: graphtrace {ours:.1f} ms = " + " + ".join(f"{k} {m[k]:.1f}" for k in names[:6])
        + f"; torchviz {theirs:.1f} ms = " + " + ".join(f"{k} {m[k]:.1f}" for k in names[6:])
        + f"; {ours / theirs:.2f}x; load {os.getloadavg()[0]:.1f}"
    )


def _warm(key: str, repeats: int, tree: str | None) -> dict[str, float]:
    """One warm child process: medians of torchviz and graphtrace (from ``tree`` if given)."""
    env = dict(os.environ, PYTHONPATH=os.path.abspath(tree)) if tree else None
    cmd = [sys.executable, __file__, key, "--repeats", str(repeats), "--child"]
    return eval(subprocess.run(cmd, capture_output=True, text=True, check=True, env=env).stdout)  # noqa: S307


def before_after(keys: list[str], repeats: int, before: str, rounds: int) -> None:
    """The warm figures of this tree and of ``before``, their processes alternated (``--before``)."""
    for key in keys:
        runs: dict[str, list[dict[str, float]]] = {"before": [], "after": []}
        for _ in range(rounds):
            runs["before"].append(_warm(key, repeats, before))
            runs["after"].append(_warm(key, repeats, None))
        for side, got in runs.items():
            tv = statistics.median(r["torchviz"] for r in got)
            gt = statistics.median(r["graphtrace"] for r in got)
            each = ", ".join(f"{r['graphtrace'] / r['torchviz']:.2f}x" for r in got)
            print(
                f"{key} {side}: CPU per picture torchviz {tv * 1e3:.1f} ms, graphtrace {gt * 1e3:.1f} ms "
                f"({gt / tv:.2f}x; per round {each}); "
                f"load {os.getloadavg()[0]:.1f}"
            )


def main() -> None:
    args = sys.argv[1:]
    repeats = int(args[args.index("--repeats") + 1]) if "--repeats" in args else 20
    keys = [a for a in args if a.startswith("W")] or ["W1", "W2", "W3"]
    if "--child" in args:
        print(one(keys[0], repeats, args[args.index("--child") + 1] if args[-1] != "--child" else ""))
        return
    if "--phases" in args:
        for key in keys:
            print(phases(key, repeats), flush=True)
        return
    if "--before" in args:
        rounds = int(args[args.index("--rounds") + 1]) if "--rounds" in args else 3
        before_after(keys, repeats, args[args.index("--before") + 1], rounds)
        return
    for key in keys:
        firsts: dict[str, list[float]] = {"torchviz": [], "graphtrace": []}
        for _ in range(3):  # fresh processes, alternated
            for name in firsts:
                cmd = [sys.executable, __file__, key, "--child", name]
                got = eval(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)  # noqa: S307
                firsts[name].append(got[name])
        warm = eval(  # noqa: S307
            subprocess.run(
                [sys.executable, __file__, key, "--repeats", str(repeats), "--child"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
        tv, gt = warm["torchviz"], warm["graphtrace"]
        ftv, fgt = statistics.median(firsts["torchviz"]), statistics.median(firsts["graphtrace"])
        print(
            f"{key}: CPU per picture torchviz {tv * 1e3:.1f} ms, graphtrace {gt * 1e3:.1f} ms ({gt / tv:.2f}x); "
            f"first picture of a process {ftv * 1e3:.1f} vs {fgt * 1e3:.1f} ms ({fgt / ftv:.2f}x); "
            f"DOT bytes {warm['torchviz_dot_bytes']} vs {warm['dot_bytes']}; load {os.getloadavg()[0]:.1f}"
        )


if __name__ == "__main__":
    main()
