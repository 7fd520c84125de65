"""Each node's backward rule as PyTorch defines it (derivatives.yaml), and the values it saved."""

from __future__ import annotations

import functools
import importlib.util
import inspect
import linecache
import re
from collections import Counter
from pathlib import Path
from typing import Any

import torch

from .._first_use import first_use
from .frames import display_path
from .values import dtype_name, plain, record
from .walk import is_leaf_fn, is_python_fn

# NOTE [backward class names]: torchgen names the C++ node class of a derivatives.yaml entry
# (load_derivatives.create_differentiability_info) after the entry's base name in CamelCase
# plus "Backward" ("ForwardBackward" shortened to "Backward"), plus the dispatch key for
# non-default dispatch entries, plus a counter of the entries seen so far with that prefix,
# in file order: pow.Tensor_Scalar -> PowBackward0, pow.Tensor_Tensor -> PowBackward1. Only
# entries with at least one differentiable input (a key naming an argument whose formula is
# not "non_differentiable") get a class; keys naming outputs are forward derivatives.
# Generated {view}_copy ops reuse their view's formulas under "<class>_copy". Each class
# name thus names one entry; tests/capture/test_formulas.py checks the whole table against
# torchgen's own loader, which needs native_functions.yaml and takes 3.5 s instead of 0.1 s.
_SCHEMA = re.compile(r"(\w+)(\.\w+)?\((.*?)\) -> ")


def derivatives_path() -> Path | None:
    """torchgen/packaged/autograd/derivatives.yaml of the installed torch, if it ships one."""
    spec = importlib.util.find_spec("torchgen")  # found, not imported
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "packaged" / "autograd" / "derivatives.yaml"
    return path if path.is_file() else None


def _prefix(name: str) -> str:
    return ("".join(p.title() for p in name.split("_")) + "Backward").replace("ForwardBackward", "Backward")


def _arguments(params: str) -> list[tuple[str, str]]:
    """(type, name) of each argument of a schema's parameter text."""
    out = []
    for p in params.split(", "):
        p = p.split("=")[0].strip()
        if p and p != "*" and " " in p:
            kind, _, name = p.rpartition(" ")
            out.append((kind, name))
    return out


@functools.cache  # parsed once per process (NOTE [backward class names])
def table() -> dict[str, dict[str, Any]]:
    """Node class name -> {"schema", "formula": {input: text}, "lists": [Tensor[] inputs]}."""
    yaml = first_use("yaml")  # not at start (NOTE [networkx on first use])
    path = derivatives_path()
    if path is None:
        return {}
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with open(path, encoding="utf-8") as f:
        entries = yaml.load(f, Loader=loader)
    counter: Counter[str] = Counter()
    out: dict[str, dict[str, Any]] = {}
    for entry in entries:
        match = _SCHEMA.match(entry.get("name", ""))
        if match is None:
            continue
        args = _arguments(match.group(3))
        names = [name for _, name in args]
        dispatch = entry.get("dispatch") or {
            "Default": {k: v for k, v in entry.items() if k not in ("name", "output_differentiability")}
        }
        for key, definition in dispatch.items():
            formulas: dict[str, str] = {}
            for raw, text in definition.items():
                inputs = [x.strip() for x in str(raw).split(",")]
                if inputs[0] not in names or str(text).strip().lower() == "non_differentiable":
                    continue
                for name in inputs:
                    formulas[name] = str(text)
            if not formulas:
                continue
            prefix = _prefix(match.group(1)) + ("" if key == "Default" else key)
            out[f"{prefix}{counter[prefix]}"] = {
                "schema": entry["name"],
                "formula": {n: formulas[n] for n in names if n in formulas},
                "lists": [n for kind, n in args if n in formulas and kind.endswith("[]")],
            }
            counter[prefix] += 1
    return out


def lookup(op: str) -> dict[str, Any] | None:
    """The derivatives.yaml entry of a node class (``SinBackward0``), or None."""
    entries = table()
    return entries.get(op) or entries.get(op.removesuffix("_copy"))


def slot_inputs(entry: dict[str, Any], slots: int) -> list[str]:
    """The input each slot of ``next_functions`` is the gradient for ([] when not certain)."""
    inputs = list(entry["formula"])
    if len(inputs) == slots and not entry["lists"]:
        return inputs
    if len(entry["lists"]) == 1:  # one Tensor[] argument takes the slots the others leave
        extra = slots - (len(inputs) - 1)
        if extra >= 0:
            k = inputs.index(entry["lists"][0])
            return inputs[:k] + [inputs[k]] * extra + inputs[k + 1 :]
    return []


def custom_backward(fn: Any) -> str:
    """``file:line`` of a custom Function's ``backward``, read from its code object (nothing runs)."""
    cls = getattr(type(fn), "_forward_cls", None)
    backward = inspect.getattr_static(cls, "backward", None) if cls is not None else None
    backward = getattr(backward, "__func__", backward)  # a staticmethod's function
    code = getattr(backward, "__code__", None)
    if code is None:
        return ""
    line = code.co_firstlineno  # of its first decorator: the ``def`` line is shown
    for k in range(line, line + 10):
        if linecache.getline(code.co_filename, k).lstrip().startswith(("def ", "async def ")):
            line = k
            break
    return f"{display_path(code.co_filename)}:{line}"


@functools.cache
def _saved_names(cls: type) -> tuple[tuple[str, ...], frozenset[str]]:
    """The node class's saved attributes, and those that hold tensors (with a ``_raw_saved_`` twin)."""
    names = [a for a in dir(cls) if a.startswith("_saved_")]
    return tuple(a[len("_saved_") :] for a in names), frozenset(
        a[len("_raw_saved_") :] for a in dir(cls) if a.startswith("_raw_saved_")
    )


def _hooked(fn: Any, tensors: frozenset[str]) -> bool:
    """Whether reading a saved tensor of ``fn`` could call a saved-tensor unpack hook."""
    top = getattr(torch._C._autograd, "_top_saved_tensors_default_hooks", None)
    if top is None or top(True) is not None:
        return True  # hooks are on now, or torch cannot tell: read nothing
    for name in tensors:
        raw = getattr(fn, "_raw_saved_" + name)
        for saved in raw if isinstance(raw, (list, tuple)) else (raw,):
            if getattr(saved, "unpack_hook", True) is not None:
                return True
    return False


def _plain_record(value: Any) -> dict[str, Any] | None:
    """A saved scalar, string or list of ints as a value record."""
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        if all(type(v) is int for v in value):  # sizes and strides: what the loop below gives them
            return {"shape": [len(value)], "dtype": "int", "numel": len(value), "values": list(value)}
        items = [_plain_record(v) for v in value]
        if all(r is not None and r["shape"] == [] and r["dtype"] == "int" for r in items):
            ints = [r["values"] for r in items if r is not None]
            return {"shape": [len(items)], "dtype": "int", "numel": len(items), "values": ints}
        return {"shape": [len(items)], "dtype": "list", "numel": len(items), "values": None}
    if isinstance(value, bool):
        kind = "bool"
    elif isinstance(value, int):
        kind = "int"
    elif isinstance(value, (float, complex)):
        kind = type(value).__name__
    elif isinstance(value, torch.dtype):
        value, kind = dtype_name(value), "dtype"
    else:
        try:
            value, kind = int(value), "int"  # a SymInt
        except (TypeError, ValueError):
            value, kind = str(value), "str"
    return {"shape": [], "dtype": kind, "numel": 1, "values": plain(value)}


def _tensor_record(t: torch.Tensor, limit: int) -> dict[str, Any] | None:
    """A saved tensor: in full within the value limit, else its shape only (no summary cost)."""
    if t.numel() <= limit:
        return record(t, limit)
    return {"shape": list(t.shape), "dtype": dtype_name(t.dtype), "numel": t.numel(), "values": None}


def saved_values(fn: Any, limit: int) -> dict[str, dict[str, Any] | None]:
    """What a node saved for its backward, name -> value record (NOTE [reading saved values]).

    NOTE [reading saved values]: ``grad_fn._saved_x`` of a tensor unpacks it, and unpacking
    calls the saved-tensor unpack hook if one was on when the forward ran (a user's
    ``saved_tensors_hooks``, or a checkpoint region, whose hook recomputes the forward). Such
    a node's tensors are never read: the presence of each shows as a null record. The hook
    is seen without calling it (``_raw_saved_x.unpack_hook``); while hooks are on, or when
    torch cannot tell, nothing is read. Custom Functions are never touched (their
    ``saved_tensors`` is theirs). Scalars and sizes are plain values, read always.
    """
    if is_leaf_fn(fn) or is_python_fn(fn):
        return {}
    fn_class: type = type(fn)
    names, tensors = _saved_names(fn_class)
    if not names:
        return {}
    hooked = bool(tensors) and _hooked(fn, tensors)
    out: dict[str, dict[str, Any] | None] = {}
    for name in names:
        if name in tensors and hooked:
            out[name] = None
            continue
        try:
            value = getattr(fn, "_saved_" + name)
        except Exception:  # freed, or modified in place: torch would not unpack it either
            out[name] = {"shape": [], "dtype": "unreadable", "numel": 0, "values": None}
            continue
        if value is None:  # an optional input not given (nll_loss's weight): saved as undefined
            out[name] = {"shape": [], "dtype": "None", "numel": 0, "values": None}
            continue
        if isinstance(value, torch.Tensor):
            out[name] = _tensor_record(value, limit)
        elif isinstance(value, (list, tuple)) and any(isinstance(v, torch.Tensor) for v in value):
            out[name] = {"shape": [len(value)], "dtype": "list", "numel": len(value), "values": None}
        else:
            out[name] = _plain_record(value)
    return out
