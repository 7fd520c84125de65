"""Module calls in a user's traceback shown as torch makes them without graphtrace's module hooks."""

from __future__ import annotations

import functools
import linecache
import os
import sys
import traceback
import types
from typing import Any

from ._plain import DOOR

# NOTE [module calls as without our hooks]: while graphtrace traces, its global module hooks
# (module paths, capture/provenance.py) make torch run every module call through the slow path
# of ``Module._call_impl``, an ``inner()`` closure; without them, a module with no hooks of its
# own runs ``return forward_call(*args, **kwargs)`` at once. So the traceback of an error inside
# a module's forward had a frame more, on other lines, than python shows. Such a pair of frames
# (``_call_impl`` at ``return inner()``, then ``inner``) is shown as the one frame of the fast
# path when torch would have taken it: the module has no hooks of its own and the program has
# no global module hook left. Anything unexpected (another torch's source) leaves the frames.

_FAST = "return forward_call(*args, **kwargs)"
_GLOBALS = (
    "_global_backward_pre_hooks",
    "_global_backward_hooks",
    "_global_forward_hooks",
    "_global_forward_pre_hooks",
)
_OWN = ("_backward_pre_hooks", "_backward_hooks", "_forward_pre_hooks", "_forward_hooks")


@functools.lru_cache(maxsize=4)
def _fast_line(code: types.CodeType) -> tuple[int, int, int] | None:
    """(line, first column, end column) of the fast path's call in ``_call_impl``'s source."""
    for lineno in range(code.co_firstlineno, code.co_firstlineno + 40):
        text = linecache.getline(code.co_filename, lineno)
        if text.strip() == _FAST:
            start = text.index("forward_call")
            return lineno, start, len(text.rstrip())
    return None


def _ours(hook: Any) -> bool:
    owner = getattr(hook, "__self__", None)
    return type(owner).__module__.startswith("graphtrace.")


def _call_impl() -> types.CodeType | None:
    module = sys.modules.get("torch.nn.modules.module")
    if module is None or any(
        not _ours(hook) for name in _GLOBALS for hook in (getattr(module, name, None) or {}).values()
    ):
        return None  # the program's own global hooks: the slow path is torch's own choice
    impl = getattr(getattr(module, "Module", None), "_call_impl", None)
    return getattr(impl, "__code__", None)


def _hooked(module: Any) -> bool:
    try:
        return any(getattr(module, name, None) for name in _OWN)
    except Exception:  # a module we cannot read: its frames stay as they are
        return True


def as_without_hooks(
    frames: list[traceback.FrameSummary], tbs: list[types.TracebackType]
) -> list[traceback.FrameSummary]:
    """``frames`` (one per entry of ``tbs``) with each module call as python shows it without
    graphtrace (NOTE [module calls as without our hooks])."""
    code = _call_impl()
    fast = _fast_line(code) if code is not None else None
    if fast is None or len(frames) != len(tbs):
        return frames
    out: list[traceback.FrameSummary] = []
    skip = False
    for k, (f, tb) in enumerate(zip(frames, tbs)):
        if skip:
            skip = False
            continue
        callee = frames[k + 1] if k + 1 < len(frames) else None
        if (
            tb.tb_frame.f_code is code
            and callee is not None
            and callee.name == "inner"
            and callee.filename == f.filename
            and not _hooked(tb.tb_frame.f_locals.get("self"))
        ):
            line, start, end = fast
            summary = traceback.FrameSummary(  # type: ignore[call-arg]  # colno: python 3.11's, not in typeshed
                f.filename, line, f.name, end_lineno=line, colno=start, end_colno=end
            )
            out.append(summary)
            skip = True
        else:
            out.append(f)
    return out


def entries(tb: types.TracebackType | None) -> list[types.TracebackType]:
    """The traceback's entries, outermost first (as ``TracebackException.stack`` lists them)."""
    out = []
    while tb is not None:
        out.append(tb)
        tb = tb.tb_next
    return out


def stack_without_hooks(lines: list[str], files: list[str], names: list[str], frame: Any) -> list[str]:
    """Formatted stack entries (anomaly mode's) with each module call as python shows it without
    graphtrace; ``frame`` is a live frame inside the innermost of those calls (NOTE [module calls
    as without our hooks]). The entries' ``_call_impl`` frames are matched, outermost first, with
    the live ones below ``frame``."""
    code = _call_impl()
    fast = _fast_line(code) if code is not None else None
    if code is None or fast is None:
        return lines
    live = []
    while frame is not None:
        if frame.f_code is code:
            live.append(frame)
        frame = frame.f_back
    live.reverse()
    impls = [k for k, name in enumerate(names) if name == "_call_impl" and files[k] == code.co_filename]
    if len(impls) != len(live):
        return lines
    out, skip = [], set()
    for k, line in enumerate(lines):
        if k in skip:
            continue
        if (
            k in impls
            and k + 1 < len(lines)
            and names[k + 1] == "inner"
            and not _hooked(live[impls.index(k)].f_locals.get("self"))
        ):
            out.append(f'  File "{files[k]}", line {fast[0]}, in _call_impl\n    {_FAST}\n')
            skip.add(k + 1)
            continue
        out.append(line)
    return out


PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep  # graphtrace/
_RUNPY = os.path.join(os.path.dirname(os.__file__), "runpy.py")
_OVERRIDES = os.sep + os.path.join("torch", "overrides.py")  # the dispatch to our TorchFunctionMode
_TORCH = f"{os.sep}torch{os.sep}"


def not_the_users(files: list[str], names: list[str], runpy: bool = True) -> list[bool]:
    """Which frames of a stack (outermost first) python would not show without graphtrace: ours
    (the door of NOTE [warnings point home] among them), runpy's when graphtrace ran the script
    (``runpy``), and torch's dispatch to our TorchFunctionMode (``handle_torch_function`` and
    torch's line that called it)."""
    out = []
    for k, (file, name) in enumerate(zip(files, names)):
        callee = files[k + 1] if k + 1 < len(files) else ""
        ours = file.startswith(PACKAGE_DIR) or (runpy and (file == _RUNPY or file.startswith("<frozen runpy")))
        dispatch = file.endswith(_OVERRIDES) or (callee.endswith(_OVERRIDES) and _TORCH in file)
        out.append(ours or name == DOOR or dispatch)
    return out
