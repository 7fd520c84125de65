"""Modules imported on first use: the module itself, and a fork that waits for such an import to end."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path

import pytest

from graphtrace import _first_use
from graphtrace._first_use import first_use

SLOW_MODULE = """
import time
open({started!r}, "w").close()
time.sleep(0.5)  # a fork comes now, while this module is half imported
DONE = True
"""


def test_a_module_imported_already_is_returned_as_it_is() -> None:
    assert first_use("json") is json


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_fork_waits_for_a_first_import_to_end_and_leaves_no_lock_held(tmp_path: Path, monkeypatch) -> None:
    started = tmp_path / "started"
    (tmp_path / "gt_slow_first_use.py").write_text(SLOW_MODULE.format(started=str(started)))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "gt_slow_first_use", raising=False)
    importer = threading.Thread(target=first_use, args=("gt_slow_first_use",))
    importer.start()
    deadline = time.monotonic() + 60
    while not started.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    pid = os.fork()  # while the other thread imports
    if pid == 0:
        free = []
        probe = threading.Thread(target=lambda: free.append(_first_use._importing.acquire(blocking=False)))
        probe.start()
        probe.join(10)
        done = getattr(sys.modules.get("gt_slow_first_use"), "DONE", False)
        os._exit(0 if done and free == [True] else 1)
    _, status = os.waitpid(pid, 0)
    importer.join(60)
    assert started.exists() and os.waitstatus_to_exitcode(status) == 0  # imported whole before the fork
    assert _first_use._importing.acquire(blocking=False)  # and the parent's lock is free again
    _first_use._importing.release()
