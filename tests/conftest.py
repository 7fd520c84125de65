"""Shared pytest options and markers: golden-file regeneration, skips for missing programs."""

from __future__ import annotations

import shutil

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--regen-golden",
        action="store_true",
        default=False,
        help="rewrite golden files (renderer and committed outputs/) instead of comparing",
    )


@pytest.fixture
def regen_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--regen-golden"))


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
