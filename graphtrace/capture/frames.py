"""Where user code is: the first stack frame outside torch and graphtrace, and its names."""

from __future__ import annotations

import ctypes
import functools
import io
import linecache
import os
import sys
import tokenize
from inspect import CO_OPTIMIZED
from types import FrameType
from typing import Any

import torch

from .shards import fsdp_params

_PACKAGE = os.path.dirname(os.path.dirname(__file__))  # graphtrace's folder, from this file's own path
_TORCH = [os.path.dirname(torch.__file__)] if torch.__file__ else []
_INTERNAL = (
    *(folder + os.sep for folder in (*_TORCH, _PACKAGE)),
    "<frozen ",
    os.path.join(os.path.dirname(os.__file__), "runpy.py"),
)


def is_internal(filename: str) -> bool:
    return filename.startswith(_INTERNAL)


def user_frame(start: int = 1) -> FrameType | None:
    """The innermost frame that belongs to the user's code."""
    frame: FrameType | None = sys._getframe(start + 1)
    while frame is not None and is_internal(frame.f_code.co_filename):
        frame = frame.f_back
    return frame


def where(frame: FrameType | None) -> str:
    """``file:line`` of a frame, the path as the user would write it."""
    if frame is None:
        return ""
    return place(frame.f_code.co_filename, frame.f_lineno)


def place(filename: str, line: int) -> str:
    """``file:line``, the path as the user would write it."""
    return f"{display_path(filename)}:{line}"


def code_of(frame: FrameType | None) -> str:
    """The source line a frame is at, stripped of indentation and a trailing comment (``z = u * v``)."""
    if frame is None:
        return ""
    return code_line(frame.f_code.co_filename, frame.f_lineno)


@functools.lru_cache(maxsize=1024)  # called for every node of a pass
def code_line(filename: str, lineno: int) -> str:
    """The source line ``lineno`` of ``filename``, as ``code_of`` gives it."""
    line = linecache.getline(filename, lineno).strip()  # reads the file (or IPython's cell cache) only
    if "#" not in line:
        return line
    try:
        for tok in tokenize.generate_tokens(io.StringIO(line).readline):
            if tok.type == tokenize.COMMENT:
                return line[: tok.start[1]].rstrip()
    except (tokenize.TokenError, SyntaxError, IndentationError):  # part of a statement: kept whole
        pass
    return line


def display_path(filename: str) -> str:
    """A path relative to the working folder when it is inside it, else as it is."""
    return _display_path(filename, os.getcwd())


@functools.lru_cache(maxsize=256)  # called for every node of a pass
def _display_path(filename: str, cwd: str) -> str:
    if filename.startswith("<"):
        return filename
    if os.path.basename(os.path.dirname(filename)).startswith("ipykernel_"):
        return "<cell>"  # IPython's per-cell temp files: their names change every session
    try:
        rel = os.path.relpath(filename, cwd)
    except ValueError:
        return filename
    return filename if rel.startswith("..") else rel


def user_call(start: int = 1) -> tuple[FrameType | None, str]:
    """(``user_frame(start)``, the torch function between it and the backward call, e.g.
    ``torch.autograd.functional.jacobian``, or ""), from one walk up the stack."""
    frame: FrameType | None = sys._getframe(start + 1)
    found = ""
    while frame is not None and frame.f_code.co_filename.startswith(_INTERNAL):  # is_internal
        mod = frame.f_globals.get("__name__", "")
        if mod.startswith("torch.autograd.functional"):
            found = f"{mod}.{frame.f_code.co_name}"
        frame = frame.f_back
    return frame, found


def function_locals(frame: FrameType) -> list[tuple[str, Any]]:
    """A function frame's local variables, without keeping them alive or changing ``locals()``.

    NOTE [frame locals]: before Python 3.13, ``frame.f_locals`` of a function frame refreshes
    and returns the one dict stored on the frame, the very dict the user's ``locals()``
    returned. Left filled, it would keep every local (and the autograd graph behind a local
    tensor) alive after the user deletes it; emptied, it changes what the user's ``locals()``
    holds. So the dict stored before our read is found first (``_stored_locals``) and copied;
    after the read, it is given back exactly that content (empty if there was none). Where
    the stored dict cannot be found safely, a function's locals are not read (no names). From
    3.13 on ``f_locals`` is a view that stores nothing (PEP 667).
    """
    if sys.version_info >= (3, 13):
        return list(frame.f_locals.items())
    found, stored = _stored_locals(frame)
    if not found:
        return []
    before = dict(stored) if stored is not None else {}
    snapshot = frame.f_locals
    items = list(snapshot.items())
    snapshot.clear()
    snapshot.update(before)
    return items


# Offsets (in pointers) in CPython 3.11/3.12 of PyFrameObject.f_frame, and of f_code, f_globals
# and f_locals in the _PyInterpreterFrame it points to; checked against the frame before use.
_LAYOUT = {(3, 11): (3, 4, 1, 3), (3, 12): (3, 0, 3, 5)}


def _stored_locals(frame: FrameType) -> tuple[bool, dict[str, Any] | None]:
    """(found, the dict stored on the frame or None), read without refreshing it."""
    layout = _LAYOUT.get(sys.version_info[:2])
    if layout is None or sys.implementation.name != "cpython":
        return False, None
    f_frame, f_code, f_globals, f_locals = (k * ctypes.sizeof(ctypes.c_void_p) for k in layout)
    iframe = ctypes.c_void_p.from_address(id(frame) + f_frame).value
    if (
        not iframe
        or ctypes.c_void_p.from_address(iframe + f_code).value != id(frame.f_code)
        or ctypes.c_void_p.from_address(iframe + f_globals).value != id(frame.f_globals)
    ):
        return False, None
    address = ctypes.c_void_p.from_address(iframe + f_locals).value
    if not address:
        return True, None
    stored = ctypes.cast(address, ctypes.py_object).value
    return (True, stored) if type(stored) is dict else (False, None)


def variable_of(frame: FrameType, obj: Any) -> str:
    """The name of a variable of ``frame`` (its locals, then its globals) that holds ``obj``, or ``""``."""
    scopes = [function_locals(frame)] if frame.f_code.co_flags & CO_OPTIMIZED else []
    scopes.append(
        list(frame.f_globals.items()) if frame.f_code.co_flags & CO_OPTIMIZED else list(frame.f_locals.items())
    )
    return next((name for scope in scopes for name, value in scope if value is obj and not name.startswith("_")), "")


class Names:
    """Variable names of tensors and full names of module parameters visible in a frame."""

    def __init__(self, frame: FrameType | None) -> None:
        self.tensors: dict[int, tuple[str, torch.Tensor]] = {}  # id -> (name, tensor), internal
        self.params: dict[int, tuple[str, str]] = {}  # id -> (owner, name), see NOTE [owners]
        self.shards: dict[int, torch.Tensor] = {}  # id(FSDP2 unsharded parameter) -> its sharded DTensor
        if frame is None:
            return
        scopes = [function_locals(frame)] if frame.f_code.co_flags & CO_OPTIMIZED else []
        scopes.append(
            list(frame.f_globals.items()) if frame.f_code.co_flags & CO_OPTIMIZED else list(frame.f_locals.items())
        )
        for scope in scopes:
            for name, value in scope:
                if name.startswith("_"):
                    continue
                if isinstance(value, torch.Tensor):
                    self.tensors.setdefault(id(value), (name, value))
                elif isinstance(value, torch.nn.Module):
                    self._add_module(name, value)

    def _add_module(self, owner: str, module: torch.nn.Module) -> None:
        for pname, p in module.named_parameters():
            self.params.setdefault(id(p), (owner, pname))
        if "torch.distributed.fsdp" in sys.modules and torch.distributed.is_initialized():  # NOTE [sharded parameters]
            for key, (name, sharded) in fsdp_params(owner, module).items():
                self.params.setdefault(key, name)
                self.shards.setdefault(key, sharded)

    def variable_of(self, t: torch.Tensor) -> str:
        hit = self.tensors.get(id(t))
        return hit[0] if hit is not None and hit[1] is t else ""

    def add_params(self, params: dict[int, tuple[str, str]]) -> None:
        """Names of parameters of modules run in the block (the frame's own names win)."""
        for key, name in params.items():
            self.params.setdefault(key, name)

    def param_of(self, t: torch.Tensor) -> tuple[str, str]:
        """(owner, full parameter name) of a module parameter, or ``("", "")``."""
        return self.params.get(id(t), ("", ""))

    def clear(self) -> None:
        self.tensors.clear()
        self.params.clear()
        self.shards.clear()
