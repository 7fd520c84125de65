"""Every corpus program runs the same plain and traced, and its passes show what happened (see harness.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from .harness import assert_same_grads, constants, expectation, programs, run_both


def _param(path: Path) -> object:
    reason = constants(path).get("XFAIL")
    marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
    return pytest.param(path, id=path.stem, marks=marks)


@pytest.mark.parametrize("path", [_param(p) for p in programs()])
def test_program_runs_the_same_traced(path: Path, tmp_path: Path) -> None:
    plain, traced = run_both(path, tmp_path)
    assert traced.code == plain.code, traced.stderr
    assert traced.stdout == plain.stdout
    if constants(path).get("STDERR", True):
        assert traced.stderr == plain.stderr
    if constants(path).get("GRADS", True):
        assert_same_grads(plain.grads, traced.grads)
    expect = expectation(path)
    if expect is not None:
        expect(traced)
