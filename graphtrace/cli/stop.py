"""The end of ``graphtrace run``'s process: SIGTERM, signals kept from our threads, our threads at the exit.

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


# NOTE [before threads are joined]: a process ends by joining its non-daemon threads in
# ``threading._shutdown`` (at the interpreter's exit, and in a multiprocessing child at the end of
# ``BaseProcess._bootstrap``, after the target, its own children and the exit finalizers), having
# first run the calls given to ``threading._register_atexit``, the latest first; there
# ``concurrent.futures`` shuts its pools down, joining their threads. A drawing thread waits for
# the script's end (NOTE [dot after the script]), so it must come before then. A spawned or
# forkserver child's writer finishes there (its last passes, pictures, pages and index: NOTE
# [spawned children]); a multiprocessing exit finalizer does not do: ``_bootstrap`` clears the
# finalizers a forkserver child inherited from the server, and with them one registered before
# the target ran, and the child hung joining its drawing thread (a spawn child's ``_after_fork``
# clears nothing). And every writer, registered there after its pool was made, declares the end
# of the script before the pool's threads are joined, so that no process is held for ever by a
# writer whose end never came: its waiting drawings are then made and the process ends.
def before_threads_join(call: Callable[[], object]) -> bool:
    """Have ``call`` run at the process's end before its threads are joined; False where it cannot."""
    register = getattr(threading, "_register_atexit", None)  # CPython 3.9 and later
    if register is None:
        return False
    try:
        register(call)
    except RuntimeError:  # the process is already shutting down
        return False
    return True
