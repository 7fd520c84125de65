#!/usr/bin/env bash
# The test command: lint, types, then the test suite (arguments go to pytest); stops at the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/ruff check graphtrace tests
.venv/bin/ruff format --check graphtrace tests
.venv/bin/mypy graphtrace
# NOTE [two workers]: two pytest-xdist workers, one per core; a module whose fixture starts something
# costly (the examples' runs, a Jupyter kernel, Chromium, a model) is one xdist_group, so one worker makes it.
.venv/bin/python -m pytest -n 2 --dist loadgroup "$@"
