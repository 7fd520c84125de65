"""Benchmarks W1-W5: tracing overhead, graphtrace vs torchviz drawing, big-graph views, peak memory.

    python bench/run.py              # everything, writes bench/RESULTS.md
    python bench/run.py --quick      # 2 repeats, no W5
    python bench/run.py --only W4 --modes plain,trace     # the trace-overhead figure alone
    python bench/run.py --profile W4 # cProfile of one traced forward+backward (top functions)
    python bench/run.py --fwd        # forward-only work, plain vs inside trace(): prints a table

Every (workload, mode) runs in a fresh subprocess (bench/measure.py) so its peak RSS is its own.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent
KEYS = ("W1", "W2", "W3", "W4", "W5")
MODES = ("step", "draw", "view", "plain", "trace")
VIEW_KEYS = ("W4", "W5")  # the view mode is measured on the big graphs only
LEGEND = [
    "- fwd+bwd: grads set to None, forward, backward; traced = the same inside `with graphtrace.trace():`",
    "- torchviz svg: `make_dot(out, params=named_parameters).pipe('svg')`; snapshot+svg: `graphtrace.snapshot(out)` "
    "+ `to_svg(budget=10**9)` (the whole graph, like torchviz)",
    "- leaf values: summarising every parameter's value, as each traced pass does (exact: no cache, "
    "see NOTE [no leaf value cache]); part of `traced`",
    "- peak RSS: ru_maxrss of a fresh process doing a warmup and 2 steps, plain or traced",
    "- views: `views.apply` alone; `pass.to_svg()` (the auto view, apply included); `to_svg(fold=True, depth=4)`; "
    "`to_svg(budget=10**9)`, the whole pass",
]
TARGETS = "trace <= 1.10x plain on W4; snapshot+svg <= 1.0x torchviz on W4; W5 view < 1 s; RSS overhead <= 10%"


def child(key: str, mode: str, repeats: int, max_seconds: float, threads: int) -> dict:
    cmd = [sys.executable, str(HERE / "measure.py"), key, mode, str(repeats), str(max_seconds), str(threads)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=HERE)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    return {"key": key, "mode": mode, "error": (proc.stderr.strip().splitlines() or ["no output"])[-1][:300]}


def med(res: dict | None, field: str = "times") -> float | None:
    if not res or "error" in res or not res.get(field):
        return None
    return statistics.median(res[field])


def fmt_s(x: float | None) -> str:
    if x is None:
        return "—"
    return f"{x * 1e6:.0f} µs" if x < 1e-3 else f"{x * 1e3:.1f} ms" if x < 1 else f"{x:.2f} s"


def ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}x" if a is not None and b else "—"


def mb(x: float | None) -> str:
    return "—" if x is None else f"{x:.0f} MB"


def rss(res: dict | None) -> float | None:
    return None if not res or "error" in res else res.get("peak_rss_mb")


def table(results: dict) -> list[str]:
    rows = ["| workload | nodes | fwd+bwd plain | traced | ratio | leaf values | torchviz svg | snapshot+svg | ratio "
            "| peak RSS plain | traced | overhead |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for key, r in results.items():
        step, draw = r.get("step", {}), r.get("draw", {})
        plain, trace = med(step, "plain"), med(step, "trace")
        tv, ours = med(draw, "torchviz"), med(draw, "graphtrace")
        nodes = step.get("nodes") or draw.get("nodes") or "—"
        p_rss, t_rss = rss(r.get("plain")), rss(r.get("trace"))
        over = f"{(t_rss - p_rss) / p_rss * 100:+.1f}%" if p_rss and t_rss else "—"
        rows.append(f"| {key} | {nodes} | {fmt_s(plain)} | {fmt_s(trace)} | {ratio(trace, plain)} "
                    f"| {fmt_s(med(step, 'leaves'))} | {fmt_s(tv)} | {fmt_s(ours)} | {ratio(ours, tv)} "
                    f"| {mb(p_rss)} | {mb(t_rss)} | {over} |")
    return rows


def view_table(results: dict) -> list[str]:
    rows = ["| workload | nodes → shown | views.apply | auto view svg | fold+depth 4 svg | full svg "
            "| snapshot / svg split | note |", "|---|---|---:|---:|---:|---:|---|---|"]
    for key, r in results.items():
        v, d = r.get("view"), r.get("draw")
        if not v:
            continue
        if "error" in v:
            rows.append(f"| {key} | error: {v['error']} | | | | | | |")
            continue
        split = f"{fmt_s(d.get('snapshot'))} / {fmt_s(d.get('svg'))}" if d and "error" not in d else "—"
        rows.append(f"| {key} | {v['nodes']} → {v['shown']} | {fmt_s(med(v, 'apply'))} | {fmt_s(med(v))} "
                    f"| {fmt_s(med(v, 'fold_times'))} | {fmt_s(med(v, 'full_times'))} | {split} | {v['note']} |")
    return rows


FWD_KEYS = ("tiny", "tiny-nograd", "W2", "W3", "W4")
FWD_TITLES = {"tiny": "loop of 1000 tiny ops (4 elements, autograd)", "tiny-nograd": "the same loop under no_grad"}


def fwd_table(repeats: int, max_seconds: float, threads: int) -> list[str]:
    """Forward-only work (no backward), plain and inside ``graphtrace.trace()``, alternated."""
    rows = ["| forward only (per forward) | plain | inside trace() | ratio | a mode that does nothing (the floor) |",
            "|---|---:|---:|---:|---:|"]
    for key in FWD_KEYS:
        print(f"{key} fwd ...", file=sys.stderr, flush=True)
        r = child(key, "fwd", repeats, max_seconds, threads)
        if "error" in r:
            rows.append(f"| {key} | error: {r['error']} | | | |")
            continue
        n = r.get("per_block", 1)  # forwards per sample: times are per forward
        plain, trace, empty = (med(r, k) / n if med(r, k) else None for k in ("plain", "trace", "empty"))
        title = FWD_TITLES.get(key, key + " forward")
        rows.append(f"| {title} | {fmt_s(plain)} | {fmt_s(trace)} | {ratio(trace, plain)} | {ratio(empty, plain)} |")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return [*rows, "", f"load average at the end (1, 5, 15 min): {load}"]


def errors(results: dict) -> list[str]:
    return [f"- {key} {mode}: {res['error']}" for key, r in results.items() for mode, res in r.items()
            if "error" in res]


def machine() -> list[str]:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else ""
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    dot = subprocess.run(["dot", "-V"], capture_output=True, text=True).stderr.strip()
    import torch

    versions = [f"python {platform.python_version()}", f"torch {torch.__version__}"]
    versions += [f"{p} {metadata.version(p)}" for p in ("torchviz", "networkx", "graphviz", "graphtrace")]
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return [f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}",
            f"- load average at the end (1, 5, 15 min): {load} (a shared machine inflates and blurs times; "
            "plain/traced and torchviz/graphtrace are alternated in one process to compare alike)",
            f"- machine: {platform.system()} {platform.machine()}, {cpu}, {os.cpu_count()} cores, {mem:.0f} GiB RAM",
            f"- versions: {', '.join(versions)}, {dot}"]


def profile(key: str) -> None:
    import cProfile
    import pstats

    sys.path.insert(0, str(HERE))
    import graphtrace
    from workloads import build

    from measure import step

    w = build(key)
    step(w.loss, w.params)  # warm up

    def run() -> None:
        with graphtrace.trace():
            step(w.loss, w.params)
    prof = cProfile.Profile()
    prof.runcall(run)
    pstats.Stats(prof).sort_stats("tottime").print_stats(25)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="2 repeats, skip W5")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--max-seconds", type=float, default=120, help="per (workload, mode): stop repeating after")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads in each measurement (0: torch's default); 1 keeps a shared box fair")
    ap.add_argument("--only", default="", help="comma-separated workloads, e.g. W1,W4")
    ap.add_argument("--modes", default=",".join(MODES), help="comma-separated: " + ",".join(MODES))
    ap.add_argument("--out", default=str(HERE / "RESULTS.md"), help="results file ('' for none)")
    ap.add_argument("--profile", metavar="W", help="cProfile one traced forward+backward of a workload")
    ap.add_argument("--fwd", action="store_true", help="only the forward-only table, printed (RESULTS.md untouched)")
    args = ap.parse_args()
    if args.profile:
        profile(args.profile)
        return
    if args.fwd:
        print("\n".join(fwd_table(args.repeats, args.max_seconds, args.threads)))
        return
    keys = [k for k in (args.only.split(",") if args.only else KEYS) if k]
    if args.quick:
        args.repeats = min(args.repeats, 2)
        keys = [k for k in keys if k != "W5"] if not args.only else keys
    modes = [m for m in args.modes.split(",") if m]
    results: dict = {}
    for key in keys:
        results[key] = {}
        for mode in modes:
            if mode == "view" and key not in VIEW_KEYS:
                continue
            print(f"{key} {mode} ...", file=sys.stderr, flush=True)
            results[key][mode] = child(key, mode, args.repeats, args.max_seconds, args.threads)
    lines = table(results) + [""] + view_table(results)
    print("\n".join(lines))
    bad = errors(results)
    if bad:
        print("\n".join(["", "errors:"] + bad))
    if args.out:
        command = "python bench/run.py " + " ".join(sys.argv[1:])
        text = ["# Benchmark results", "", *machine(), f"- command: `{command.strip()}`",
                f"- torch threads per measurement: {args.threads or 'torch default'}",
                f"- targets: {TARGETS}", "- times are medians; ratios are graphtrace / reference", *LEGEND, "",
                *lines, *([""] + ["## Errors", ""] + bad if bad else []), "",
                "## Raw results", "", "```json", json.dumps(results, indent=1, sort_keys=True), "```", ""]
        Path(args.out).write_text("\n".join(text) + kept_sections(Path(args.out)), encoding="utf-8")


def kept_sections(path: Path) -> str:
    """The sections other benches wrote after the raw results of ``path`` (kept when this table is redone)."""
    try:
        old = path.read_text(encoding="utf-8")
    except OSError:
        return ""
    start = old.find("## Raw results")
    end = old.find("\n```\n", old.find("```json", start)) if start >= 0 else -1
    return old[end + len("\n```\n"):].lstrip("\n") if end >= 0 else ""


if __name__ == "__main__":
    main()
