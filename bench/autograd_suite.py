"""A test file (PyTorch's test/test_autograd.py, say) run plain and under graphtrace: which outcomes differ.

    python bench/autograd_suite.py PATH/test_autograd.py                 # plain vs each test in a trace()
    python bench/autograd_suite.py PATH/test_autograd.py --modes plain,each,run -k "hook or checkpoint"
    python bench/autograd_suite.py PATH/test_autograd.py --timeout 1800 --json out.json

Modes, each a pytest subprocess with a timeout: ``plain`` (pytest alone), ``each`` (every test's
call inside its own ``graphtrace.trace()``, through a pytest plugin) and ``run`` (the whole
session under ``graphtrace run``, passes written to a temporary folder). Outcomes are read from
pytest's JUnit XML; a mode that crashes or times out is reported with its exit code. The file
is never copied into this repository; torch's testing helpers need ``expecttest`` (dev extra).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
GRAPHTRACE = str(Path(sys.executable).with_name("graphtrace"))

# A pytest plugin: every test's call runs inside its own trace() (setup and teardown outside).
EACH_PLUGIN = '''
import graphtrace
import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    with graphtrace.trace(keep=False):
        yield
'''

# The driver ``graphtrace run`` executes: pytest in-process, its exit code the script's.
RUN_DRIVER = '''
import sys
import pytest
sys.exit(pytest.main(sys.argv[1:]))
'''


def _outcomes(xml: Path) -> dict[str, str]:
    """test id -> passed / failed / error / skipped, from a JUnit XML report."""
    if not xml.exists():
        return {}
    found = {}
    for case in ET.parse(xml).getroot().iter("testcase"):
        key = f"{case.get('classname')}::{case.get('name')}"
        kinds = {child.tag for child in case}
        found[key] = ("failed" if "failure" in kinds else "error" if "error" in kinds
                      else "skipped" if "skipped" in kinds else "passed")
    return found


def run_mode(mode: str, path: Path, select: list[str], work: Path, timeout: float) -> dict:
    """One pytest session in ``mode``; its outcomes, exit code and the tail of its output."""
    xml = work / f"{mode}.xml"
    args = [str(path), "-q", "-p", "no:cacheprovider", "-o", "addopts=", f"--junitxml={xml}", *select]
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
        cmd = [GRAPHTRACE, "run", "-q", "--format", "json", "--max-passes", "50", "--out", str(work / "out"),
               str(driver), *args]
    else:
        raise SystemExit(f"autograd_suite: unknown mode {mode!r} (plain, each, run)")
    try:
        done = subprocess.run(cmd, cwd=path.parent, env=env, capture_output=True, text=True, timeout=timeout,
                              check=False)
        code, tail = done.returncode, (done.stdout + done.stderr)[-1500:]
    except subprocess.TimeoutExpired as exc:
        code, tail = "timeout", str(exc.stdout or "")[-1500:]
    return {"code": code, "outcomes": _outcomes(xml), "tail": tail}


def compare(results: dict[str, dict]) -> dict:
    """Counts per mode, and every test whose outcome differs from plain's."""
    plain = results["plain"]["outcomes"]
    report: dict = {"counts": {m: dict(Counter(r["outcomes"].values())) for m, r in results.items()},
                    "codes": {m: r["code"] for m, r in results.items()}, "differ": {}}
    for mode, r in results.items():
        if mode == "plain":
            continue
        other = r["outcomes"]
        report["differ"][mode] = {t: [plain.get(t, "missing"), other.get(t, "missing")]
                                  for t in sorted(set(plain) | set(other)) if plain.get(t) != other.get(t)}
    return report


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("path", type=Path, help="the test file (kept outside this repository)")
    ap.add_argument("--modes", default="plain,each", help="comma-separated: plain, each, run")
    ap.add_argument("-k", dest="keyword", default=None, help="pytest -k selection")
    ap.add_argument("--timeout", type=float, default=1800.0, help="seconds per mode")
    ap.add_argument("--json", type=Path, default=None, help="write the full report here")
    opts = ap.parse_args()
    if not opts.path.is_file():
        print(f"autograd_suite: no such file: {opts.path}", file=sys.stderr)
        return 2
    modes = [m for m in opts.modes.split(",") if m]
    if "plain" not in modes:
        modes.insert(0, "plain")
    select = ["-k", opts.keyword] if opts.keyword else []
    with tempfile.TemporaryDirectory(prefix="gt-suite-") as tmp:
        results = {m: run_mode(m, opts.path.resolve(), select, Path(tmp), opts.timeout) for m in modes}
    report = compare(results)
    for mode in modes:
        counts = ", ".join(f"{n} {k}" for k, n in sorted(report["counts"][mode].items()))
        print(f"{mode:6} exit {report['codes'][mode]}: {counts or 'no outcomes'}")
        if mode != "plain":
            for test, (was, now) in report["differ"][mode].items():
                print(f"    {was:>7} -> {now:<7} {test}")
        if not results[mode]["outcomes"]:
            print("    " + results[mode]["tail"].replace("\n", "\n    "))
    if opts.json is not None:
        opts.json.write_text(json.dumps({"report": report, "tails": {m: r["tail"] for m, r in results.items()}},
                                        indent=1))
    return 1 if any(report["differ"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())
