#!/usr/bin/env bash
# The test command: lint, types, then the test suite (arguments go to pytest); stops at the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/ruff check graphtrace tests
.venv/bin/ruff format --check graphtrace tests
.venv/bin/mypy graphtrace
.venv/bin/python -m pytest "$@"
