"""Taking a trace's torch function mode off its thread's stack, from that thread or another."""

from __future__ import annotations

import ctypes
import threading
from typing import Any

import torch

# NOTE [a mode per thread]: torch keeps a stack of torch function modes per thread (C++
# thread-local state), and a thread can only change its own. A trace left from the thread
# that entered it takes its mode off that stack at once (modes pushed after it and still
# there stay, in order). A trace left from another thread cannot reach that stack: its mode
# forgets its trace (``tracer = None``) and from then on passes every call through unchanged,
# recording nothing; and it cannot take itself off later either, since torch holds a mode off
# the stack while its own ``__torch_function__`` runs and pushes it back after
# (StashTorchFunctionModeGuard in C++, ``_pop_mode_temporarily`` in Python). So the entering
# thread sweeps such left modes off its own stack:
# - when it is the main thread (the usual case: a trace entered by the script, left by a
#   worker), at once: the leaving thread asks, through ``Py_AddPendingCall`` (CPython's own
#   way to run a call in the main thread), for a sweep that the main thread runs between two
#   of its bytecodes, before its next line, even one blocked in ``join()`` at the time;
# - in any case, at that thread's next ``trace()`` entry or exit.
# A sweep keeps every other mode in its order. A sweep cannot find the mode while the main
# thread runs a torch call through it (its handler holds it off the stack): it asks again a
# few times, and the handler asks once more as it returns (``ask_again``), which CPython runs
# at the main thread's next check between bytecodes, the mode being back on the stack by then.
# Until it is swept the inert mode is listed by
# ``torch.overrides._get_current_function_mode_stack()`` and changes nothing.


def leave(mode: Any) -> None:
    """Take ``mode`` off the torch function mode stack it was pushed on (NOTE [a mode per thread])."""
    if threading.get_ident() != mode.thread:
        mode.tracer = None
        if mode.thread == threading.main_thread().ident:
            _unswept.append(mode)
            _tries[0] = 0
            _ask_the_main_thread()
        return
    above = []
    while torch._C._len_torch_function_stack() > 0:
        top = torch._C._pop_torch_function_stack()
        if top is mode:
            break
        above.append(top)
    else:
        mode.tracer = None  # not on this thread's stack any more
    for m in reversed(above):
        torch._C._push_on_torch_function_stack(m)
    sweep()


def _left(mode: Any) -> bool:
    return getattr(mode, "graphtrace_mode", False) and mode.tracer is None


def sweep() -> None:
    """Take the modes of traces left from another thread off this thread's stack."""
    depth = torch._C._len_torch_function_stack()
    if not any(_left(torch._C._get_function_stack_at(i)) for i in range(depth)):
        return
    kept, taken = [], set()
    while torch._C._len_torch_function_stack() > 0:
        top = torch._C._pop_torch_function_stack()
        if _left(top):
            taken.add(id(top))
        else:
            kept.append(top)
    for m in reversed(kept):
        torch._C._push_on_torch_function_stack(m)
    _unswept[:] = [m for m in _unswept if id(m) not in taken]


_unswept: list[Any] = []  # modes left from a worker, still to take off the main thread's stack
_TRIES = 1024  # failed sweeps asked again in a row, at most (a few ms)
_tries = [0]


def ask_again() -> None:
    """Called as a left mode's handler returns: ask the main thread to sweep, if it still has to."""
    if _unswept and threading.get_ident() == _unswept[0].thread:
        _tries[0] = 0
        _ask_the_main_thread()


def _pending_sweep(_: Any) -> int:
    """Run by the main thread between two bytecodes; never raises (a -1 would raise there)."""
    try:
        sweep()
        if _unswept and _tries[0] < _TRIES:
            _ask_the_main_thread()  # its handler holds it off the stack: ask again
    except BaseException:  # nothing of ours may reach the script's main thread
        pass
    return 0


_PENDING = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p)
_SWEEP = _PENDING(_pending_sweep)  # kept alive here: CPython holds only the pointer


def _ask_the_main_thread() -> None:
    _tries[0] += 1
    try:
        add = ctypes.pythonapi.Py_AddPendingCall
        add.argtypes = [_PENDING, ctypes.c_void_p]
        add.restype = ctypes.c_int
        add(_SWEEP, None)  # -1: the queue is full; the next trace() of the main thread sweeps
    except Exception:  # a Python without the C API: the next trace() sweeps
        pass
