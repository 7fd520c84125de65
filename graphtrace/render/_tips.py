"""Tooltip text of nodes and edges: the numbers of the picture at full precision."""

from __future__ import annotations

from typing import Any

from .._types import Graph
from . import _numbers
from . import _rules as R

TIP_LIMIT = 400  # characters; a longer tooltip is cut at a line boundary (the step page has it all)


def _record(key: str, rec: dict[str, Any] | None) -> list[str]:
    if rec is None:
        return []
    lines = _numbers.elements(rec, precise=True)
    if not lines:
        return [f"{key} {_numbers.shape_text(rec.get('shape'))} {_numbers.stats(rec)}"]
    return [f"{key} {lines[0]}", *lines[1:]] if len(lines) == 1 else [key, *lines]


def _cut(lines: list[str]) -> str:
    out: list[str] = []
    for line in lines:
        if sum(len(x) + 1 for x in out) + len(line) > TIP_LIMIT:
            out.append("…")
            break
        out.append(line)
    return "\n".join(out)


def node_tip(graph: Graph, n: object, attrs: dict[str, Any]) -> str:
    """A node's tooltip (NOTE [numbers that never mislead]): its code line, value, gradients, rule."""
    lines = [str(attrs.get("op") or attrs.get("kind") or "")]
    for key in ("code", "source"):
        if attrs.get(key):
            lines.append(str(attrs[key]))
    lines += _record("value:", attrs.get("value"))
    grad_in = (attrs.get("grad_in") or [None])[0]
    if attrs.get("kind") == "leaf" and attrs.get("grad_after") is not None:
        lines += _record(".grad before:", attrs.get("grad_before"))
        lines += _record("increment:", grad_in) + _record(".grad after:", attrs.get("grad_after"))
    else:
        lines += _record("gradient in:", grad_in)
    lines += _record("returned grad:", attrs.get("returned_grad"))
    lines += _record("retained .grad:", attrs.get("retained_grad"))
    if attrs.get("kind") == "op":
        lines += [f"with numbers: {text}" for text in R.with_numbers(graph, n)]
    return _cut(lines)


def edge_tip(attrs: dict[str, Any]) -> str:
    """An edge's tooltip: the gradient that flowed, and the local derivative, at full precision."""
    note = _numbers.bundle_note(attrs)
    if _numbers.to_outputs(attrs):  # NOTE [slots to several outputs] in capture/recorder.py
        return _cut([line for nr, g in _numbers.edge_grads(attrs) for line in _record(f"gradient to output {nr}:", g)])
    lines = _record(f"gradient {note}:" if note else "gradient:", attrs.get("grad"))
    local = _numbers.factor(_numbers.like(attrs.get("local"), attrs.get("grad")), precise=True)
    if local:
        lines.append(f"local derivative: {local}")
    return _cut(lines)
