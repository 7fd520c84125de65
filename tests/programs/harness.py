"""Runs a corpus program plain (``python P``) and traced (``graphtrace run P``) and compares the two.

NOTE [corpus convention]: a program is any ``tests/programs/*.py`` other than this harness,
``corpus.py``, ``__init__.py`` and ``test_*.py``. It is a short realistic script that
- does its work under ``if __name__ == "__main__":`` (the harness imports it to read ``expect``);
- ends with ``corpus.save_grads(name=tensor, ...)`` (``from corpus import save_grads``): both
  runs' gradients must be bit-identical (``torch.equal``, same dtype);
- may define ``expect(run)``: asserts on the traced run (``run.passes``: the pass-*.json dicts
  in order, ``run.out``: the output folder, ``run.index``: index.html's text, ``run.stderr``);
- may set module constants (read without importing): ``XFAIL = "issue 11 item N"`` (strict
  xfail until fixed), ``ARGS = ["--format", "json,html"]`` (graphtrace options, default
  ``-q --format json``), ``STDERR = False`` (stderr may differ, e.g. graphtrace's notes), ``GRADS = False``
  (the program saves no gradients, e.g. it stops before any).
Both runs must give the same stdout, exit code and (unless ``STDERR = False``) stderr.
Each program's work should take well under a second.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .corpus import GRADS_ENV

HERE = Path(__file__).parent
NOT_PROGRAMS = {"harness.py", "corpus.py", "__init__.py"}
GRAPHTRACE = str(Path(sys.executable).with_name("graphtrace"))
DEFAULT_ARGS = ["-q", "--format", "json"]
TIMEOUT = 60  # a hang (item 4) fails the test instead of the suite


def programs() -> list[Path]:
    return sorted(p for p in HERE.glob("*.py") if p.name not in NOT_PROGRAMS and not p.name.startswith("test_"))


def constants(path: Path) -> dict[str, Any]:
    """The program's module-level constants (XFAIL, ARGS, STDERR), read without running it."""
    found = {}
    for stmt in ast.parse(path.read_text()).body:
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
            try:
                found[stmt.targets[0].id] = ast.literal_eval(stmt.value)
            except ValueError:
                pass
    return found


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str
    grads: dict | None
    out: Path = Path()
    passes: list[dict] = field(default_factory=list)

    @property
    def index(self) -> str:
        return (self.out / "index.html").read_text()


def _start(cmd: list[str], tmp: Path, grads: Path) -> subprocess.Popen:
    env = {**os.environ, GRADS_ENV: str(grads), "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}
    return subprocess.Popen(
        cmd, cwd=tmp, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )  # a hung child of the program is killed with it


def _finish(proc: subprocess.Popen, grads: Path) -> Run:
    try:
        stdout, stderr = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise AssertionError(f"{proc.args} did not finish in {TIMEOUT} s") from None
    return Run(proc.returncode, stdout, stderr, torch.load(grads) if grads.exists() else None)


def run_both(path: Path, tmp: Path) -> tuple[Run, Run]:
    """The program run plain and traced (at the same time), in ``tmp``."""
    args = constants(path).get("ARGS", DEFAULT_ARGS)
    out = tmp / "out"
    plain = _start([sys.executable, str(path)], tmp, tmp / "plain.pt")
    traced = _start([GRAPHTRACE, "run", "-o", str(out), *args, str(path)], tmp, tmp / "traced.pt")
    p, t = _finish(plain, tmp / "plain.pt"), _finish(traced, tmp / "traced.pt")
    t.out = out
    t.passes = [json.loads(f.read_text()) for f in sorted(out.glob("pass-*.json"))] if out.is_dir() else []
    return p, t


def assert_same_grads(plain: dict | None, traced: dict | None) -> None:
    assert plain is not None, "the plain run saved no gradients (end the program with save_grads(...))"
    assert traced is not None, "the traced run saved no gradients"
    assert plain.keys() == traced.keys()
    for k, a in plain.items():
        b = traced[k]
        if isinstance(a, torch.Tensor):
            assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b), f"gradient {k} differs"
        else:
            assert a == b, f"{k}: {a!r} != {b!r}"


def expectation(path: Path) -> Any:
    """The program's ``expect`` function, or None (imports it with its folder on sys.path)."""
    spec = importlib.util.spec_from_file_location(f"corpus_program_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.parent))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(path.parent))
    return getattr(module, "expect", None)
