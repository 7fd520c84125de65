"""Modules imported when first needed rather than at start, never across a fork (NOTE [networkx on first use])."""

from __future__ import annotations

import importlib
import os
import sys
import threading
from types import ModuleType

FORK_WAIT = 10.0  # seconds a fork waits for such an import to end; then it goes ahead as without us

# NOTE [networkx on first use]: importing networkx takes about 0.25 s of CPU (its package
# imports every algorithm and registers each with its backend dispatcher), yaml 0.03-0.1 s:
# together more than the rest of graphtrace's start before a script's first line. Only a
# built graph needs networkx and only a pass's backward rules need yaml, so they are imported
# when first used: a script that runs no backward pass, ``--help`` and a run's start before
# its first pass import neither (tests/cli/test_e2e.py). bench/cli_training_loop.py --start
# measures the start.
# Where and when that import happens matters, since plain python imports nothing during a
# backward pass: a program that forks while another of its threads is inside an import leaves
# that module locked for ever in the child, and a child importing it then hangs.
# - The first graph is made by the thread that recorded a pass (capture/assemble.py, after its
#   backward call returned: the user's traced thread, never one of ours) or loaded one; yaml
#   is read by that same thread before its backward call (capture/formulas.py). Drawing threads
#   only contract a pass already built (render/views_build.py), so they never import first.
#   graphviz, which only drawing threads use, is imported at start with render for that reason.
# - Another thread of the user's may fork while the traced thread imports: a fork waits for
#   such an import to end (``os.register_at_fork``, registered at the first import, so that it
#   runs before the hooks of modules imported earlier, logging's among them, whose lock
#   networkx's import takes), at most FORK_WAIT seconds (tests/programs/fork_first_import.py).
_importing = threading.RLock()  # held while such a module is imported, and by a fork meanwhile
_forking = threading.local()  # whether this thread's fork holds ``_importing``
_hooked: list[bool] = []


def first_use(name: str) -> ModuleType:
    """The module ``name``, imported now if it is not yet (NOTE [networkx on first use])."""
    module = sys.modules.get(name)
    if module is not None and not getattr(getattr(module, "__spec__", None), "_initializing", False):
        return module
    with _importing:
        if not _hooked and hasattr(os, "register_at_fork"):
            os.register_at_fork(before=_before_fork, after_in_parent=_after_fork, after_in_child=_after_fork)
            _hooked.append(True)
        return importlib.import_module(name)


def _before_fork() -> None:
    _forking.held = _importing.acquire(timeout=FORK_WAIT)


def _after_fork() -> None:  # in the parent and in the child (where this thread is the one left)
    if getattr(_forking, "held", False):
        _forking.held = False
        _importing.release()
