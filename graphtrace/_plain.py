"""The one door through which graphtrace runs the user's own calls (told apart in tracebacks)."""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any


def plain_call(func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """``func(*args, **kwargs)``. NOTE [whose error]: an exception raised through this frame
    began in the user's call (their op, their hook, torch's check of their shapes), not in
    graphtrace; the runner shows it as Python would, with none of our frames."""
    return func(*args, **kwargs)


# NOTE [warnings point home]: a warning is attributed to the frame ``stacklevel`` frames up
# from where it is raised: torch's C++ warnings (copying a tensor with ``torch.tensor``,
# reading a non-leaf's ``.grad``) to the innermost Python frame, a torch Python function's
# ``warnings.warn(..., stacklevel=2)`` to that function's caller. When our mode re-runs a call,
# that frame would be ours. So each call the mode re-runs goes through a door made for the
# line that called it: a one-line function whose code carries that frame's file name and
# line number, run in that frame's globals. The warnings machinery reads exactly these (file,
# line, the module's ``__name__`` and its ``__warningregistry__``), so the warning is shown,
# filtered and de-duplicated as without graphtrace, for no more per call than a dict lookup
# (a catch-and-reemit costs some 9 µs per call). A stacklevel reaching past that caller would
# still see our frames; no torch function warns so. The door is no frame of the user's: like
# ``plain_call`` (NOTE [whose error]) it counts as the user's call, and the runner leaves it
# out of tracebacks by its name, DOOR (no Python function can have it).
DOOR = "<graphtrace call>"
_TEMPLATE = compile("def door(f, a, k): return f(*a, **k)", "<graphtrace>", "exec").co_consts[0]
_MAX_DOORS = 1 << 16  # doors kept (one per calling instruction); past it, made afresh


class Doors:
    """One door per calling instruction (code object, offset), made on first use."""

    def __init__(self) -> None:
        # (id(code), offset) -> (code, globals, door, line); the code is held, so its id stays its own
        self._made: dict[tuple[int, int], tuple[Any, Any, Callable[..., Any], int]] = {}

    def of(self, frame: types.FrameType) -> tuple[Any, Any, Callable[..., Any], int]:
        """(code, globals, the door for the instruction ``frame`` is at, that instruction's line:
        0 if it has none, and the door is then ``plain_call``)."""
        code = frame.f_code
        made = self._made.get((id(code), frame.f_lasti))
        if made is not None and made[0] is code and made[1] is frame.f_globals:
            return made
        return self._make(frame)

    def _make(self, frame: types.FrameType) -> tuple[Any, Any, Callable[..., Any], int]:
        code, line = frame.f_code, frame.f_lineno
        if not isinstance(line, int) or line < 1:  # no line to point at: as before, plain_call
            return (code, frame.f_globals, plain_call, 0)
        door = types.FunctionType(
            _TEMPLATE.replace(co_filename=code.co_filename, co_firstlineno=line, co_name=DOOR, co_qualname=DOOR),
            frame.f_globals,
        )
        if len(self._made) >= _MAX_DOORS:
            self._made.clear()
        made = self._made[(id(code), frame.f_lasti)] = (code, frame.f_globals, door, line)
        return made

    def clear(self) -> None:
        self._made.clear()
