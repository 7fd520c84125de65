"""Shared pytest set-up: skips for missing programs, hypothesis's files kept out of the source tree."""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import configuration as hypothesis_configuration

import graphtrace

PACKAGE = Path(graphtrace.__file__).resolve().parent

_HYPOTHESIS_HOME: list[str] = []


def pytest_configure(config: pytest.Config) -> None:
    """Hypothesis writes ``.hypothesis/`` into the working folder, even on --collect-only: send it
    to a temporary folder removed at the end (the fuzz settings keep no example database anyway)."""
    _HYPOTHESIS_HOME.append(tempfile.mkdtemp(prefix="graphtrace-hypothesis-"))
    hypothesis_configuration.set_hypothesis_home_dir(_HYPOTHESIS_HOME[-1])


def pytest_unconfigure(config: pytest.Config) -> None:
    while _HYPOTHESIS_HOME:
        shutil.rmtree(_HYPOTHESIS_HOME.pop(), ignore_errors=True)


def frames_of_graphtrace(traceback: str, cwd: Path | str = ".") -> list[str]:
    """The traceback's frames whose file is in the graphtrace package, wherever the checkout lives
    (a checkout named ``graphtrace`` holds torch under ``graphtrace/.venv/``: names alone cannot tell)."""
    files = re.findall(r'^ *File "(.+?)", line \d+', traceback, re.MULTILINE)
    return [f for f in files if (Path(cwd) / f).resolve().is_relative_to(PACKAGE)]


@pytest.fixture
def our_frames() -> Callable[..., list[str]]:
    return frames_of_graphtrace


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip tests whose program is missing, saying which."""
    missing = {
        "dot": shutil.which("dot") is None,
        "browser": shutil.which("chromium") is None or shutil.which("chromedriver") is None,
    }
    for item in items:
        for marker, absent in missing.items():
            if absent and marker in item.keywords:
                item.add_marker(pytest.mark.skip(reason=f"needs {marker} (bash scripts/setup.sh --dev installs it)"))
