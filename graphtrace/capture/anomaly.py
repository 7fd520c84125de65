"""Anomaly mode's forward tracebacks as Python would write them without graphtrace."""

from __future__ import annotations

import os
import re
from typing import Any

from .._fastpath import PACKAGE_DIR, not_the_users, stack_without_hooks

# NOTE [anomaly tracebacks]: under ``torch.autograd.detect_anomaly()`` torch keeps, in each new
# node's ``metadata["traceback_"]``, the ``traceback.format_stack()`` of the call that made it,
# and prints it when that node's backward fails ("Traceback of forward call that caused the
# error"). Made through our mode, that stack also holds graphtrace's frames: the launcher
# (console script, click, the runner), the mode's handler, the door (NOTE [warnings point
# home]) and torch's dispatch to the mode (``handle_torch_function`` and the line that called
# it), and module calls run through torch's hooked path (NOTE [module calls as without our
# hooks]). The tagging of each new node rewrites the list without them, so the warning shows
# the frames it shows without graphtrace; a node no tagging reaches keeps torch's list.

_RUNNER = os.path.join(PACKAGE_DIR, "cli", "runner.py")
_ENTRY = re.compile(r'  File "(.*)", line \d+, in (.*)\n')
KEY = "traceback_"


def plain_stack(fn: Any, frame: Any) -> None:
    """Rewrite ``fn``'s anomaly traceback without graphtrace's frames (NOTE [anomaly tracebacks]);
    ``frame``: the live frame of the call that made it."""
    lines = fn.metadata.get(KEY)
    if not isinstance(lines, list) or not lines or not all(isinstance(s, str) for s in lines):
        return
    where = [_ENTRY.match(s) for s in lines]
    if not all(where):
        return  # not the format we know: left as torch wrote it
    files = [m.group(1) for m in where if m]
    names = [m.group(2) for m in where if m]
    start = max((k + 1 for k, f in enumerate(files) if f == _RUNNER), default=0)  # the launcher
    drop = not_the_users(files[start:], names[start:], runpy=start > 0)  # runpy's: ours only under run
    keep = [k for k, dropped in enumerate(drop, start) if not dropped]
    kept = stack_without_hooks([lines[k] for k in keep], [files[k] for k in keep], [names[k] for k in keep], frame)
    if kept != lines:
        fn.metadata[KEY] = kept
