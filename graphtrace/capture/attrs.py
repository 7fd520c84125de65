"""A pass's node attributes before it runs: a tensor's, an op's and its backward rule."""

from __future__ import annotations

from typing import Any

import torch

from .formulas import custom_backward, lookup, saved_values, slot_inputs
from .values import dtype_name, shape_of
from .walk import is_python_fn, meta_shape, op_name


def tensor_attrs(t: torch.Tensor, kind: str, op: str, name: str, value: dict[str, Any] | None) -> dict[str, Any]:
    """A root's or a leaf's attributes; ``value`` is its recorded value."""
    return {
        "kind": kind,
        "op": op,
        "name": name,
        "param": "",
        "shape": shape_of(t),
        "dtype": dtype_name(t.dtype),
        "device": t.device.type,
        "requires_grad": t.requires_grad,
        "is_leaf": t.is_leaf,
        "retains_grad": t.retains_grad,
        "value": value,
        "step": None,
        "grad_in": [None],
        "retained_grad": None,
        "source": "",
        "module": "",
        "module_class": "",
        "outputs": 1,
    }


def op_attrs(
    fn: Any, named: tuple[str, torch.Tensor] | None, prov: dict[str, Any], value: dict[str, Any] | None
) -> dict[str, Any]:
    """An op node's attributes from its grad_fn, the variable naming it and its provenance."""
    metas = getattr(fn, "_input_metadata", ())
    first = metas[0] if metas else None
    return {
        "kind": "op",
        "op": op_name(fn),
        "name": named[0] if named else "",
        "param": "",
        "shape": meta_shape(first),
        "dtype": dtype_name(first.dtype) if first is not None else None,
        "device": first.device.type if first is not None else None,
        "requires_grad": True,
        "is_leaf": False,
        "retains_grad": named[1].retains_grad if named else None,
        "value": value,
        "step": None,
        "grad_in": [None] * max(1, len(metas)),
        "retained_grad": None,
        "source": prov.get("source", ""),
        "code": prov.get("code", ""),
        "module": prov.get("module", ""),
        "module_class": prov.get("module_class", ""),
        "outputs": max(1, len(metas)),
    }


def backward_rule(fn: Any, limit: int, values: bool) -> tuple[dict[str, Any], list[str] | None]:
    """The node's backward rule from derivatives.yaml, the values it saved, a custom backward's
    line; and the input each of its slots feeds, when the rule names them."""
    out: dict[str, Any] = {"formula": {}, "saved": {}, "backward_source": ""}
    if is_python_fn(fn):
        out["backward_source"] = custom_backward(fn)
        return out, None
    slots = None
    entry = lookup(op_name(fn))
    if entry is not None:
        out["formula"] = dict(entry["formula"])
        slots = slot_inputs(entry, len(fn.next_functions))
    if values:
        out["saved"] = saved_values(fn, limit)
    return out, slots
