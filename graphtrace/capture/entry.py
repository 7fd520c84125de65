"""Which function a call to our mode stands for, through any wrapper, and how to run it plainly.

NOTE [wrapped entry points]: torch's Python-level functions dispatch to a TorchFunctionMode
with ``handle_torch_function(<name looked up at call time>, ...)``: ``Tensor.backward`` passes
``Tensor.backward``, ``torch.autograd.grad`` passes the module's global ``grad``. When a script
(loss scaling) or another tool (torchlens) has replaced that attribute with a wrapper, the mode
receives the *wrapper*, and calling it again runs the wrapper twice (gradients doubled). What
the mode must run is the function that dispatched, i.e. the frame that called
``handle_torch_function``, with the mode off: that is exactly what happens without graphtrace.
So an entry point is recognised by that frame's code object, never by the equality of ``func``
(a wrapper may compare equal to the original, or not), and its plain call is torch's own function.
"""

from __future__ import annotations

import gc
import inspect
import os
import types
from collections.abc import Callable
from typing import Any

import torch
from torch.overrides import handle_torch_function

Fn = Callable[..., Any]
DISPATCH = handle_torch_function.__code__  # the code of torch's dispatch to a mode
_TORCH_DIR = os.path.dirname(torch.__file__) + os.sep
_TENSOR = os.path.join("torch", "_tensor.py")
_AUTOGRAD = os.path.join("torch", "autograd", "__init__.py")
# name shown in passes -> (where torch defines it, the object that should hold it, function name)
_KNOWN: dict[str, tuple[str, Callable[[], Any], str]] = {
    "Tensor.backward": (_TENSOR, lambda: vars(torch.Tensor).get("backward"), "backward"),
    "torch.autograd.backward": (_AUTOGRAD, lambda: torch.autograd.backward, "backward"),
    "torch.autograd.grad": (_AUTOGRAD, lambda: torch.autograd.grad, "grad"),
}


class Entry:
    """A backward entry point: its ``name``, torch's own ``function`` and its signature."""

    def __init__(self, name: str, function: Fn) -> None:
        self.name, self.function = name, function
        self.signature = inspect.signature(function)


def _own(obj: Any, where: str, name: str) -> Any:
    """``obj`` or the function it wraps (``__wrapped__``) that torch defines in ``where``."""
    return _unwrap(obj, lambda code: code.co_name == name and code.co_filename.endswith(where))


def _unwrap(obj: Any, match: Callable[[types.CodeType], bool]) -> Any:
    """``obj`` or the function it wraps (through ``__wrapped__``) whose code ``match``es."""
    for _ in range(32):  # a chain of wrappers, never a cycle
        code = getattr(obj, "__code__", None)
        if isinstance(code, types.CodeType) and match(code):
            return obj
        obj = getattr(obj, "__wrapped__", None)
        if obj is None:
            return None
    return None


def _entries() -> dict[types.CodeType, Entry]:
    found = {}
    for shown, (where, holder, name) in _KNOWN.items():
        fn = _own(holder(), where, name)
        if fn is not None:
            found[fn.__code__] = Entry(shown, fn)
    return found


_BY_CODE = _entries()
BY_FUNCTION = {id(e.function): e for e in _BY_CODE.values()}  # id(torch's own function) -> its entry
_PLAIN: dict[types.CodeType, Fn | None] = {}  # dispatching code -> its function (wrapped ones)


def resolve(func: Any, outer: types.FrameType) -> tuple[Entry | None, Any]:
    """(the backward entry point ``func`` stands for, or None; what to call for it with the mode
    off). ``outer`` is the frame that called our mode: ``handle_torch_function`` for torch's
    Python-level functions, whose caller is the function that dispatched; C++ otherwise."""
    found = BY_FUNCTION.get(id(func))
    if found is not None and found.function is func:
        return found, func
    if outer.f_code is not DISPATCH:  # an op dispatched from C++: no wrapper in between
        return None, func
    caller = outer.f_back
    return entry_of(func, caller), plain(func, caller)


def caller(outer: types.FrameType) -> types.FrameType:
    """The frame whose line a call to our mode belongs to: the caller of the torch Python function
    that dispatched (``outer`` is its ``handle_torch_function``), else ``outer`` itself (a C++ op)."""
    if outer.f_code is DISPATCH:
        dispatcher = outer.f_back
        if dispatcher is not None and dispatcher.f_back is not None:
            return dispatcher.f_back
    return outer


def entry_of(func: Any, caller: types.FrameType | None) -> Entry | None:
    """The backward entry point ``func`` stands for, if any; ``caller`` is the ``dispatcher``."""
    found = BY_FUNCTION.get(id(func))
    if found is not None and found.function is func:
        return found
    if caller is None:
        return None
    return by_code(caller.f_code)


def by_code(code: types.CodeType) -> Entry | None:
    """The backward entry point whose function runs ``code``, if any."""
    found = _BY_CODE.get(code)
    if found is None and code.co_name in ("backward", "grad"):
        found = _late_entry(code)
    return found


def plain(func: Any, caller: types.FrameType | None) -> Any:
    """What to call for ``func`` with the mode off: the function that dispatched to us when ``func``
    is someone's wrapper of it (NOTE [wrapped entry points]), else ``func`` itself (torch's own
    functions, including a public API deliberately different from the dispatching function)."""
    if caller is None:
        return func
    code = caller.f_code
    if getattr(func, "__code__", None) is code:
        return func
    inner = _unwrap(func, lambda c: c is code)
    if inner is not None:
        return inner
    if _is_torch(func):
        return func
    if code not in _PLAIN:
        _PLAIN[code] = _function_of(code)
    return _PLAIN[code] or func


def _is_torch(func: Any) -> bool:
    """Whether ``func`` is torch's own (or a builtin), not a wrapper someone put in its place."""
    code = getattr(func, "__code__", None)
    if isinstance(code, types.CodeType):
        return code.co_filename.startswith(_TORCH_DIR)
    module = type(func).__module__ or ""
    return module == "builtins" or module == "torch" or module.startswith("torch.")


def _late_entry(code: types.CodeType) -> Entry | None:
    """An entry point wrapped before graphtrace was imported, without ``__wrapped__``: found by its code."""
    for shown, (where, _, name) in _KNOWN.items():
        if code.co_name == name and code.co_filename.endswith(where):
            fn = _function_of(code)
            if fn is not None:
                _BY_CODE[code] = entry = Entry(shown, fn)
                BY_FUNCTION[id(fn)] = entry
                return entry
    return None


def _function_of(code: types.CodeType) -> Fn | None:
    """The function object running ``code`` (once per code object: searches the heap)."""
    for obj in gc.get_referrers(code):
        if isinstance(obj, types.FunctionType) and obj.__code__ is code:
            return obj
    return None
