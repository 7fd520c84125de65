"""A test file (PyTorch's test/test_autograd.py, say) run plain and under graphtrace: which outcomes differ.

    python bench/autograd_suite.py PATH/test_autograd.py                 # plain vs each test in a trace()
    python bench/autograd_suite.py PATH/test_autograd.py --modes plain,each,run -k "hook or checkpoint"
    python bench/autograd_suite.py PATH/test_autograd.py --per-test 120 --json out.json

Modes, each a pytest subprocess: ``plain`` (pytest alone), ``each`` (every test's call inside its
own ``graphtrace.trace()``, through a pytest plugin) and ``run`` (the whole session under
``graphtrace run``, passes written to a temporary folder). The file is first copied to a
temporary folder with the ADAPTATIONS below applied (the lines they change are printed), so
a reader can reproduce the run from the same file; it is never copied into this repository.
Each test is bounded by pytest-timeout (``--per-test`` seconds, dev extra) and each mode by
``--timeout``. Outcomes are read from pytest's JUnit XML; a mode that crashes or times out is
reported with its exit code. Tests whose outcome differs from plain's are run once more in
both modes (``--no-confirm`` skips this), and a difference is reported as confirmed only when
both runs agree, so a flaky test is named as such instead of being blamed on graphtrace.
torch's testing helpers need ``expecttest`` (dev extra).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

GRAPHTRACE = str(Path(sys.executable).with_name("graphtrace"))

# The only changes made to the file before it runs: (pattern, replacement, why). Applied with
# re.sub per line to a copy; nothing else is touched, so every other test runs as upstream wrote it.
ADAPTATIONS = [
    (
        r"^from autograd\.(test_\w+) import (\w+)",
        r"# adapted: \g<0>",
        "imports test classes from PyTorch's test/autograd/ package, which is not part of this file",
    ),
]

# A pytest plugin: every test's call runs inside its own trace() (setup and teardown outside).
EACH_PLUGIN = """
import graphtrace
import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    with graphtrace.trace(keep=False):
        yield
"""

# The driver ``graphtrace run`` executes: pytest in-process, its exit code the script's.
RUN_DRIVER = """
import sys
import pytest
sys.exit(pytest.main(sys.argv[1:]))
"""


def adapt(source: Path, work: Path) -> tuple[Path, list[str]]:
    """A copy of ``source`` in ``work`` with ADAPTATIONS applied; the changed lines, described."""
    changed = []
    lines = source.read_text().splitlines(keepends=True)
    for n, line in enumerate(lines):
        for pattern, repl, why in ADAPTATIONS:
            new = re.sub(pattern, repl, line)
            if new != line:
                changed.append(f"line {n + 1}: {line.strip()}  ({why})")
                lines[n] = line = new
    target = work / source.name
    target.write_text("".join(lines))
    return target, changed


def _outcomes(xml: Path) -> dict[str, str]:
    """test id -> passed / failed / error / skipped, from a JUnit XML report."""
    if not xml.exists():
        return {}
    found = {}
    for case in ET.parse(xml).getroot().iter("testcase"):
        key = f"{case.get('classname')}::{case.get('name')}"
        kinds = {child.tag for child in case}
        found[key] = (
            "failed"
            if "failure" in kinds
            else "error"
            if "error" in kinds
            else "skipped"
            if "skipped" in kinds
            else "passed"
        )
    return found


def _has_timeout_plugin() -> bool:
    probe = [sys.executable, "-c", "import pytest_timeout"]
    return subprocess.run(probe, capture_output=True, check=False).returncode == 0


def run_mode(mode: str, path: Path, select: list[str], work: Path, opts: argparse.Namespace, tag: str = "") -> dict:
    """One pytest session in ``mode``; its outcomes, exit code and the tail of its output."""
    xml = work / f"{mode}{tag}.xml"
    ids = [s for s in select if "::" in s]  # node ids replace the file (else pytest runs both)
    rest = [s for s in select if "::" not in s]
    args = [*(ids or [str(path)]), "-q", "-p", "no:cacheprovider", "-o", "addopts=", f"--junitxml={xml}", *rest]
    if opts.per_test and opts.timeout_plugin:
        args += [f"--timeout={opts.per_test}"]  # pytest-timeout loads itself (entry point)
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    if mode == "plain":
        cmd = [sys.executable, "-m", "pytest", *args]
    elif mode == "each":
        (work / "gt_each_plugin.py").write_text(EACH_PLUGIN)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(work), env.get("PYTHONPATH", "")) if p)
        cmd = [sys.executable, "-m", "pytest", "-p", "gt_each_plugin", *args]
    elif mode == "run":
        driver = work / "gt_run_driver.py"
        driver.write_text(RUN_DRIVER)
        cmd = [
            GRAPHTRACE,
            "run",
            "-q",
            "--format",
            "json",
            "--max-passes",
            "50",
            "--out",
            str(work / f"out{tag}"),
            str(driver),
            *args,
        ]
    else:
        raise SystemExit(f"autograd_suite: unknown mode {mode!r} (plain, each, run)")
    try:
        done = subprocess.run(
            cmd, cwd=path.parent, env=env, capture_output=True, text=True, timeout=opts.timeout, check=False
        )
        code, tail = done.returncode, (done.stdout + done.stderr)[-1500:]
    except subprocess.TimeoutExpired as exc:
        code, tail = "timeout", str(exc.stdout or "")[-1500:]
    return {"code": code, "outcomes": _outcomes(xml), "tail": tail}


def differ(plain: dict[str, str], other: dict[str, str]) -> dict[str, list[str]]:
    """test id -> [plain outcome, other outcome], for every test whose outcome differs."""
    return {
        t: [plain.get(t, "missing"), other.get(t, "missing")]
        for t in sorted(set(plain) | set(other))
        if plain.get(t) != other.get(t)
    }


def _node_ids(tests: list[str], path: Path) -> list[str]:
    """pytest node ids for JUnit ``classname::name`` keys (the module part dropped)."""
    return [f"{path.name}::{t.split('::')[0].rsplit('.', 1)[-1]}::{t.split('::')[1]}" for t in tests]


def confirm(mode: str, tests: list[str], path: Path, work: Path, opts: argparse.Namespace) -> dict[str, list[str]]:
    """The differing ``tests`` run again, plain and in ``mode``: those that differ again."""
    ids = _node_ids(tests, path)
    again_plain = run_mode("plain", path, ids, work, opts, "-again")["outcomes"]
    again_other = run_mode(mode, path, ids, work, opts, "-again")["outcomes"]
    return differ(again_plain, again_other)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("path", type=Path, help="the test file (kept outside this repository)")
    ap.add_argument("--modes", default="plain,each", help="comma-separated: plain, each, run")
    ap.add_argument("-k", dest="keyword", default=None, help="pytest -k selection")
    ap.add_argument("--timeout", type=float, default=3600.0, help="seconds per mode (whole session)")
    ap.add_argument("--per-test", type=float, default=120.0, help="seconds per test (pytest-timeout; 0: none)")
    ap.add_argument("--no-confirm", action="store_true", help="do not run differing tests a second time")
    ap.add_argument("--json", type=Path, default=None, help="write the full report here")
    opts = ap.parse_args()
    if not opts.path.is_file():
        print(f"autograd_suite: no such file: {opts.path}", file=sys.stderr)
        return 2
    opts.timeout_plugin = _has_timeout_plugin()
    modes = [m for m in opts.modes.split(",") if m]
    if "plain" not in modes:
        modes.insert(0, "plain")
    select = ["-k", opts.keyword] if opts.keyword else []
    with tempfile.TemporaryDirectory(prefix="gt-suite-") as tmp:
        work = Path(tmp)
        path, changed = adapt(opts.path.resolve(), work)
        print(f"{opts.path}: {len(changed)} line(s) adapted" + "".join(f"\n    {c}" for c in changed))
        if not opts.timeout_plugin:
            print("    (pytest-timeout not installed: tests are not bounded one by one)")
        results = {m: run_mode(m, path, select, work, opts) for m in modes}
        plain = results["plain"]["outcomes"]
        report: dict = {"adapted": changed, "counts": {}, "codes": {}, "differ": {}, "confirmed": {}}
        for mode, r in results.items():
            report["counts"][mode] = dict(Counter(r["outcomes"].values()))
            report["codes"][mode] = r["code"]
            if mode == "plain":
                continue
            report["differ"][mode] = differ(plain, r["outcomes"])
            listed = [t for t, (a, b) in report["differ"][mode].items() if "missing" not in (a, b)]
            if listed and not opts.no_confirm:
                report["confirmed"][mode] = confirm(mode, listed, path, work, opts)
    for mode in modes:
        counts = ", ".join(f"{n} {k}" for k, n in sorted(report["counts"][mode].items()))
        print(f"{mode:6} exit {report['codes'][mode]}: {counts or 'no outcomes'}")
        if mode != "plain":
            again = report["confirmed"].get(mode)
            for test, (was, now) in report["differ"][mode].items():
                note = "" if again is None else ("  (again)" if test in again else "  (not again: flaky)")
                print(f"    {was:>7} -> {now:<7} {test}{note}")
        if not results[mode]["outcomes"]:
            print("    " + results[mode]["tail"].replace("\n", "\n    "))
    if opts.json is not None:
        opts.json.write_text(
            json.dumps({"report": report, "tails": {m: r["tail"] for m, r in results.items()}}, indent=1)
        )
    confirmed = [
        t
        for m in report["differ"]
        for t in report["differ"][m]
        if m not in report["confirmed"] or t in report["confirmed"][m]
    ]
    return 1 if confirmed else 0


if __name__ == "__main__":
    sys.exit(main())
