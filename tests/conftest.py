"""Shared pytest set-up: skips for missing programs, hypothesis's files kept out of the source tree."""

from __future__ import annotations

import shutil
import tempfile

import pytest
from hypothesis import configuration as hypothesis_configuration

_HYPOTHESIS_HOME: list[str] = []


def pytest_configure(config: pytest.Config) -> None:
    """Hypothesis writes ``.hypothesis/`` into the working folder, even on --collect-only: send it
    to a temporary folder removed at the end (the fuzz settings keep no example database anyway)."""
    _HYPOTHESIS_HOME.append(tempfile.mkdtemp(prefix="graphtrace-hypothesis-"))
    hypothesis_configuration.set_hypothesis_home_dir(_HYPOTHESIS_HOME[-1])


def pytest_unconfigure(config: pytest.Config) -> None:
    while _HYPOTHESIS_HOME:
        shutil.rmtree(_HYPOTHESIS_HOME.pop(), ignore_errors=True)


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
