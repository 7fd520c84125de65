"""SIGTERM during ``graphtrace run``: the passes so far and the index written, then the signal's own end.

NOTE [stopped by a signal]
Plain python ends at SIGTERM at once (no ``finally`` runs; a shell reports 143). Under
``graphtrace run`` the same signal first writes what was recorded (the passes so far and
the index, as Ctrl-C does), then ends the process by that same signal, so whoever sent it
sees what plain python gives. The handler is installed only where python's default is in
place (an ignored SIGTERM stays ignored); a script that installs its own handler keeps it.
While graphtrace itself finishes the folder after the script, a SIGTERM waits until the
index is written. A second SIGTERM while the handler writes ends the process at once.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from types import FrameType


class TermGuard:
    """Context manager around the script: SIGTERM calls ``finish(name)``, then ends the process."""

    def __init__(self, finish: Callable[[str], None], signum: int = signal.SIGTERM) -> None:
        self.finish, self.signum = finish, signum
        self.installed, self.deferring, self.pending = False, False, 0

    def __enter__(self) -> TermGuard:
        if threading.current_thread() is threading.main_thread() and signal.getsignal(self.signum) is signal.SIG_DFL:
            signal.signal(self.signum, self._on_signal)
            self.installed = True
        return self

    def __exit__(self, *exc: object) -> None:
        self.deferring = True  # graphtrace finishes the folder now: a SIGTERM waits for it (see ``done``)

    def done(self) -> None:
        """The folder is finished: put python's default back, and end now if a SIGTERM came meanwhile."""
        if not self.installed:
            return
        if signal.getsignal(self.signum) == self._on_signal:
            signal.signal(self.signum, signal.SIG_DFL)
        self.installed = False
        if self.pending:
            os.kill(os.getpid(), self.pending)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self.deferring:
            self.pending = signum
            return
        signal.signal(signum, signal.SIG_DFL)  # a second one ends the process at once
        try:
            self.finish(signal.Signals(signum).name)
        finally:
            os.kill(os.getpid(), signum)


# NOTE [signals reach the main thread]: the kernel gives a process's SIGINT or SIGTERM to any
# thread that does not block it, and python runs its handler only in the main thread, at its
# next bytecode. Landing on one of graphtrace's drawing threads, a Ctrl-C during the script's
# ``time.sleep(60)`` (or any blocking call) would wait for that call to end, where plain python
# stops at once. So graphtrace's own threads block these signals, and the kernel hands them to
# the main thread as without graphtrace.
STOP_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM})


def leave_signals_to_the_main_thread() -> None:
    """Block SIGINT and SIGTERM in the calling thread, one of ours (NOTE [signals reach the main thread])."""
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
