"""Scaling of graphtrace with graph size: capture, JSON, views, SVG, a written pass, peak RSS.

    python bench/scale.py                          # seq and chain at 1k..100k nodes, table to stdout
    python bench/scale.py --shapes seq --sizes 10000 --repeats 3
    python bench/scale.py --profile seq:30000:apply  # cProfile of one step (json, apply, svg, dot, html, write)
    python bench/scale.py --profile /tmp/p.json:write  # the same of a saved pass (Pass.save), for two trees
    python bench/scale.py --out bench/scale.md     # also write the table as markdown

Shapes (synthetic graphs of about N nodes, built in a fresh subprocess per (shape, size)):
  seq    a deep flat ``nn.Sequential`` of Linear(4, 4) + ReLU (5 nodes per layer: addmm, t, two leaves, relu)
  chain  a long op chain ``x = (x * 1.0001).sin()`` with no module structure (1 node per op)
  fanin  a wide fan-in: ``torch.stack([w_i * x for i]).sum()`` (2 nodes per term)
Steps, each timed alone (median of repeats): capture (traced forward + backward), JSON (``to_json``),
``views.apply`` (the auto view), the auto-view SVG (``to_svg()``, apply included), a written pass
(JSON + SVG + HTML, as ``graphtrace run`` writes it: ``render.draw`` then ``to_html`` with that SVG),
and the process's peak RSS. Plain forward + backward is timed interleaved with capture.
Capture refuses passes over 20,000 nodes (capture/walk.py MAX_NODES): this bench raises that limit.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SHAPES = ("seq", "chain", "fanin")
SIZES = (1000, 3000, 10000, 30000, 100000)
STEPS = ("plain", "capture", "json", "apply", "svg", "write")
SNAPSHOT_FROM = 100_000  # past capture's 20,000-node limit, freeing a 100k-deep autograd graph that
# graphtrace walked crashes the process (segfault); so from this size the pass is
# ``graphtrace.snapshot(loss)`` (structure and values, no gradients), its graph kept in KEEP until
# the child ends by os._exit
KEEP: list[Any] = []


def build(shape: str, n: int) -> tuple[Callable[[], Any], Callable[[], None]]:
    """(forward to a scalar loss, zero the grads) for a graph of about ``n`` nodes."""
    import torch

    from graphtrace.capture import walk

    walk.MAX_NODES = max(walk.MAX_NODES, 2 * n)  # capture refuses passes over 20,000 nodes by default

    torch.manual_seed(0)
    params: list[torch.Tensor]
    if shape == "seq":
        mods: list[torch.nn.Module] = []
        for _ in range(max(1, n // 5)):
            mods += [torch.nn.Linear(4, 4), torch.nn.ReLU()]
        model = torch.nn.Sequential(*mods)
        x = torch.randn(2, 4)
        params = list(model.parameters())

        def loss() -> Any:
            return model(x).sum()

    elif shape == "chain":
        params = [torch.randn(4, requires_grad=True)]

        def loss() -> Any:
            y = params[0]
            for _ in range(max(1, n - 2)):
                y = y.sin()
            return y.sum()

    elif shape == "fanin":
        params = [torch.randn(4, requires_grad=True) for _ in range(max(1, n // 2))]
        x = torch.randn(4)

        def loss() -> Any:
            return torch.stack([w * x for w in params]).sum()

    else:
        raise SystemExit(f"unknown shape {shape!r}: use one of {', '.join(SHAPES)}")

    def zero() -> None:
        for p in params:
            p.grad = None

    return loss, zero


def cpu_seconds() -> float:
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


CPU: dict[int, list[float]] = {}  # id of a timed() result -> the CPU seconds of the same calls


def timed(fn: Callable[[], Any], repeats: int) -> list[float]:
    """Wall seconds of ``repeats`` calls; their CPU seconds (this process and the dot it ran) in CPU[id(result)]."""
    out, cpu = [], []
    for _ in range(repeats):
        gc.collect()
        c0, t0 = cpu_seconds(), time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
        cpu.append(cpu_seconds() - c0)
    CPU[id(out)] = cpu
    return out


def written(p: Any, folder: Path) -> None:
    """What the run writer does per pass (cli/writer.py _emit, _draw, _page): JSON, SVG, page."""
    from graphtrace import render

    graph = p.graph
    (folder / "p.json").write_text(p.to_json(), encoding="utf-8")
    svg, view = None, render.view(graph)
    for fmt, data in render.draw(graph, ["svg"], view=view):
        svg = data.decode("utf-8")
        (folder / ("p." + fmt)).write_bytes(data)
    (folder / "p.html").write_text(render.to_html(graph, svg=svg, view=view), encoding="utf-8")


def measure(shape: str, n: int, repeats: int) -> dict[str, Any]:
    import torch

    import graphtrace
    from graphtrace.render import views

    torch.set_num_threads(1)
    loss, zero = build(shape, n)
    res: dict[str, Any] = {"shape": shape, "target": n, "pass": "snapshot" if n >= SNAPSHOT_FROM else "backward"}
    last: list[Any] = []

    def plain() -> None:
        zero()
        loss().backward()

    def capture() -> None:
        zero()
        last.clear()
        if n >= SNAPSHOT_FROM:  # see SNAPSHOT_FROM
            KEEP.append(loss())
            last.append(graphtrace.snapshot(KEEP[-1]))
            return
        with graphtrace.trace() as t:
            loss().backward()
        last.append(t.passes[-1])

    plain()
    res["plain"], res["capture"] = [], []
    cpu: dict[str, list[float]] = {"plain": [], "capture": []}
    for _ in range(repeats):  # interleaved: plain, traced, plain, traced ...
        for key, fn in (("plain", plain), ("capture", capture)):
            walls = timed(fn, 1)
            res[key] += walls
            cpu[key] += CPU[id(walls)]
    CPU[id(res["plain"])], CPU[id(res["capture"])] = cpu["plain"], cpu["capture"]
    p = last[0]
    graph = p.graph
    res["nodes"], res["edges"] = graph.number_of_nodes(), graph.number_of_edges()
    res["json"] = timed(p.to_json, repeats)
    res["json_bytes"] = len(p.to_json().encode("utf-8"))
    res["apply"] = timed(lambda: views.apply(graph), repeats)
    view = views.apply(graph)
    res["shown"], res["note"] = view.number_of_nodes(), view.graph.get("view_note", "")
    res["svg"] = timed(p.to_svg, repeats)
    res["svg_bytes"] = len(p.to_svg().encode("utf-8"))
    with tempfile.TemporaryDirectory(prefix="graphtrace-scale-") as tmp:
        res["write"] = timed(lambda: written(p, Path(tmp)), repeats)
        res["html_bytes"] = Path(tmp, "p.html").stat().st_size
    for key in STEPS:  # CPU seconds beside wall seconds: on a loaded machine, the steadier figure
        if isinstance(res.get(key), list):
            res["cpu_" + key] = CPU.get(id(res[key]), [])
    res["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    res["load"] = os.getloadavg()[0]
    return res


def child(shape: str, n: int, repeats: int) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", f"{shape}:{n}:{repeats}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=HERE)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return dict(json.loads(line[len("RESULT ") :]))
    return {"shape": shape, "target": n, "error": (proc.stderr.strip().splitlines() or ["no output"])[-1][:300]}


def fmt_s(x: float | None) -> str:
    if x is None:
        return "—"
    return f"{x * 1e3:.1f} ms" if x < 1 else f"{x:.2f} s"


def med(res: dict[str, Any], key: str) -> float | None:
    v = res.get(key)
    return statistics.median(v) if v else None


def both(r: dict[str, Any], key: str) -> str:
    """Median wall time (median CPU time)."""
    cpu = med(r, "cpu_" + key)
    return fmt_s(med(r, key)) + (f" ({fmt_s(cpu)})" if cpu is not None else "")


def table(results: list[dict[str, Any]]) -> list[str]:
    rows = [
        "| shape | nodes → shown | plain fwd+bwd | capture | capture µs/node (cpu) | JSON | JSON bytes/node "
        "| views.apply | auto svg | written pass (json+svg+html) | peak RSS | load |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        if "error" in r:
            rows.append(f"| {r['shape']} | {r['target']}: error {r['error']} | | | | | | | | | | |")
            continue
        n = r["nodes"]
        cap = med(r, "cpu_capture") or med(r, "capture") or 0.0
        kind = " (snapshot)" if r.get("pass") == "snapshot" else ""
        rows.append(
            f"| {r['shape'] + kind} | {n} → {r['shown']} | {both(r, 'plain')} | {both(r, 'capture')} "
            f"| {cap / n * 1e6:.0f} "
            f"| {both(r, 'json')} | {r['json_bytes'] / n:.0f} | {both(r, 'apply')} "
            f"| {both(r, 'svg')} | {both(r, 'write')} | {r['peak_rss_mb']:.0f} MB | {r.get('load', 0):.1f} |"
        )
    return rows


def profile(spec: str) -> None:
    """cProfile of one step of ``shape:size:step`` or ``saved-pass.json:step`` (json, apply, svg, dot, html, write)."""
    import cProfile
    import pstats

    import graphtrace
    from graphtrace import render
    from graphtrace.render import views

    source, step = spec.rsplit(":", 1)
    if source.endswith(".json"):  # a saved pass: the same one for two trees (graphtrace.load)
        p = graphtrace.load(source).passes[0]
    else:
        shape, size = source.split(":")
        loss, _ = build(shape, int(size))
        with graphtrace.trace() as t:
            loss().backward()
        p = t.passes[-1]
    fns: dict[str, Callable[[], Any]] = {
        "json": p.to_json,
        "apply": lambda: views.apply(p.graph),
        "svg": p.to_svg,
        "dot": lambda: render.to_dot(p.graph),
        "html": lambda: render.to_html(p.graph, svg=""),
        "write": lambda: written(p, Path(tempfile.mkdtemp(prefix="graphtrace-scale-"))),
    }
    prof = cProfile.Profile()
    prof.runcall(fns[step])
    pstats.Stats(prof).sort_stats("cumulative").print_stats(30)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shapes", default="seq,chain")
    ap.add_argument("--sizes", default=",".join(str(s) for s in SIZES))
    ap.add_argument("--repeats", type=int, default=3, help="repeats per step (1 at 100k nodes)")
    ap.add_argument("--out", default="", help="also write the markdown table to this file")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--profile", metavar="SHAPE:SIZE:STEP or PASS.json:STEP")
    args = ap.parse_args()
    if args.child:
        shape, n, repeats = args.child.split(":")
        print("RESULT " + json.dumps(measure(shape, int(n), int(repeats))), flush=True)
        os._exit(0)  # see SNAPSHOT_FROM
    if args.profile:
        profile(args.profile)
        return
    results = []
    for n in (int(s) for s in args.sizes.split(",")):
        for shape in args.shapes.split(","):
            print(f"{shape} {n} ...", file=sys.stderr, flush=True)
            results.append(child(shape, n, 1 if n >= 100000 else args.repeats))
            print("\n".join(table(results[-1:])[2:]), file=sys.stderr, flush=True)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    lines = [*table(results), "", f"load average at the end (1, 5, 15 min): {load}"]
    print("\n".join(lines))
    if args.out:
        Path(args.out).write_text("\n".join(lines) + "\n\n```json\n" + json.dumps(results, indent=1) + "\n```\n")


if __name__ == "__main__":
    main()
