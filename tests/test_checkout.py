"""The test suite as a user meets it: it writes nothing into the checkout it runs from."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _status() -> str:
    """Every changed, untracked and ignored file of the checkout, as git lists them."""
    try:
        top = subprocess.run(
            ["git", "rev-parse", "--show-toplevel"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"the checkout's state is read with git, and git failed here: {exc}")
    if Path(top).resolve() != ROOT:
        pytest.skip(f"{ROOT} is not the top of a git checkout ({top} is)")
    return subprocess.run(
        ["git", "status", "--porcelain", "--ignored", "--untracked-files=all"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def test_collecting_the_suite_writes_nothing_into_the_checkout() -> None:
    before = _status()
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}  # Python's own bytecode cache is not the suite's doing
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "tests"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert " tests collected" in proc.stdout
    after = _status()
    assert after == before, f"collecting wrote into {ROOT}:\n" + "\n".join(
        sorted(set(after.splitlines()) - set(before.splitlines()))
    )
