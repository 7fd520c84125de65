#!/usr/bin/env bash
# Sets up graphtrace in ./.venv on a fresh Debian machine (idempotent).
#   bash scripts/setup.sh         runtime: Graphviz dot, torch (CPU), graphtrace
#   bash scripts/setup.sh --dev   also the test tools: pytest, torchviz, Jupyter kernel, Chromium
set -euo pipefail
cd "$(dirname "$0")/.."

dev=0
[ "${1:-}" = "--dev" ] && dev=1

apt_packages=()
command -v dot >/dev/null 2>&1 || apt_packages+=(graphviz)
# dot lays labels out in DejaVu Sans, the widest common sans (NOTE [text fits its box] in render/_svg.py)
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || apt_packages+=(fonts-dejavu-core)
if [ "$dev" = 1 ]; then
  # the browser tests draw pictures in Liberation Sans too
  [ -f /usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf ] || apt_packages+=(fonts-liberation)
  command -v chromium >/dev/null 2>&1 || apt_packages+=(chromium)
  command -v chromedriver >/dev/null 2>&1 || apt_packages+=(chromium-driver)
fi
if [ ${#apt_packages[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "setup: please install ${apt_packages[*]} (needs root and apt-get)" >&2
    exit 1
  fi
  echo "setup: apt-get install ${apt_packages[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${apt_packages[@]}" >/dev/null
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
pip=(.venv/bin/python -m pip install -q --disable-pip-version-check)
# torch pinned first: 2.13.0 is the CPU build on this machine's disk; an unpinned torch pulls CUDA.
.venv/bin/python -c "import torch" 2>/dev/null || "${pip[@]}" "torch==2.13.0" numpy 2>&1 | grep -v '^WARNING: Location' >&2 || true
.venv/bin/python -c "import torch" || { echo "setup: torch did not install" >&2; exit 1; }
if [ "$dev" = 1 ]; then
  "${pip[@]}" -e ".[dev]" 2>&1 | grep -v '^WARNING: Location' >&2 || true
else
  "${pip[@]}" -e . 2>&1 | grep -v '^WARNING: Location' >&2 || true
fi
.venv/bin/python -c "import graphtrace" || { echo "setup: graphtrace did not install" >&2; exit 1; }
if [ "$dev" = 1 ]; then
  .venv/bin/python -c "import pytest, xdist, torchviz, hypothesis, nbclient, selenium, mypy, ruff" \
    || { echo "setup: the test tools did not install" >&2; exit 1; }
fi
