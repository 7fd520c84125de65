"""An op node's backward rule as derivatives.yaml writes it, with the numbers of this pass put in."""

from __future__ import annotations

import functools
import re
from typing import Any

from .._types import Graph
from . import _numbers

# NOTE [rule text]: the formula is PyTorch's own (the node's ``formula`` attribute, from
# derivatives.yaml); pictures show it lightly rewritten for reading: ``.conj()`` dropped
# for real dtypes (it is the identity there), ``x.f()`` written ``f(x)``, ``*`` as ``×``.
# Saved values are listed where the formula uses them as values (not only for their
# dtype or sizes), and the step page puts the numbers in when every one is a scalar.
_METHOD = re.compile(r"\b([A-Za-z_]\w*)\.(\w+)\(\)")
_META = r"(?:scalar_type|sym_sizes|sizes|sym_strides|strides|dim|options|layout|device|dtype|is_conj|sym_numel|numel)"
RULE_WIDTH = 56  # longer rule text is shortened in pictures (the step page shows it whole)
MAX_SAVED = 3  # saved values listed after a rule in pictures
LINE_WIDTH = 120  # a rule line in a picture, values and factor included (NOTE [whole values])


@functools.lru_cache(maxsize=1024)  # the same few formulas on every node of an op
def pretty(formula: str, dtype: str | None = None) -> str:
    """``grad * self.cos().conj()`` as ``grad × cos(self)`` (NOTE [rule text])."""
    text = formula.strip()
    if not (dtype or "").startswith("complex"):
        text = text.replace(".conj()", "")
    while True:
        new = _METHOD.sub(r"\2(\1)", text)
        if new == text:
            break
        text = new
    return text.replace(" * ", " × ")


@functools.lru_cache(maxsize=1024)
def _word(name: str, value_only: bool = False) -> re.Pattern[str]:
    """The pattern of ``name`` as a whole word of a formula (compiled once per name)."""
    meta = rf"(?!\s*\.\s*{_META}\b)" if value_only else ""
    return re.compile(rf"(?<![\w.])\b{re.escape(name)}\b" + meta)


@functools.lru_cache(maxsize=4096)  # a picture repeats an op's formulas (ResNet: 20 convolutions)
def _uses(formula: str, name: str) -> bool:
    """Whether a formula uses ``name``'s value (not only ``name.sizes()`` and the like)."""
    return _word(name, True).search(formula) is not None


@functools.lru_cache(maxsize=4096)
def _first_use(formula: str, name: str) -> int:
    found = _word(name).search(formula)
    return found.start() if found else len(formula)


@functools.lru_cache(maxsize=4096)  # the same saved names on every node of an op
def _used(formula: str, names: tuple[str, ...]) -> tuple[str, ...]:
    """The saved ``names`` whose values a formula uses, in the order it first uses them."""
    return tuple(sorted((k for k in names if _uses(formula, k)), key=lambda k: _first_use(formula, k)))


def items(graph: Graph, n: object) -> list[dict[str, Any]]:
    """One entry per input the rule gave a gradient to in this pass: input, formula, saved values
    it uses, and what left along the edge (gradient, local derivative); every input if unknown."""
    attrs = graph.nodes[n]
    formula: dict[str, str] = attrs.get("formula") or {}
    saved: dict[str, Any] = attrs.get("saved") or {}
    leaving: dict[str, tuple[Any, Any]] = {}
    order: dict[str, int] = {}  # input -> its first slot (JSON files keep dict keys sorted, not in order)
    known = False
    for e in graph.succ[n].values():  # the out-edges' attributes, in out_edges order
        inputs = e.get("inputs") or []
        if not inputs:
            continue
        known = True
        slots, parts, many = e.get("slots") or [0], e.get("parts") or [], len(inputs) > 1
        for k, name in enumerate(inputs):
            order[name] = min(order.get(name, 1 << 30), slots[min(k, len(slots) - 1)])
            grad = (parts[k] if k < len(parts) else None) if many else e.get("grad")
            leaving.setdefault(name, (grad, None if many else e.get("local")))
    out = []
    for name, text in sorted(formula.items(), key=lambda kv: order.get(kv[0], 1 << 30)):
        if known and name not in leaving:
            continue  # no gradient went to this input (a constant operand)
        grad, local = leaving.get(name, (None, None))
        uses = [(k, saved[k]) for k in _used(text, tuple(saved))]
        out.append({"input": name, "formula": text, "saved": uses, "grad": grad, "local": local})
    return out


def _value(rec: Any, precise: bool, brief: bool = False) -> str:
    if rec is None:
        return "not read (behind a saved-tensor hook)"
    if rec.get("dtype") in ("None", "unreadable"):  # an optional tensor not given; one torch cannot unpack
        return "None" if rec["dtype"] == "None" else "could not be unpacked"
    if rec.get("values") is None or not _numbers.shown(rec, _numbers.INLINE_LIMIT) or (brief and rec.get("shape")):
        return _numbers.shape_text(rec.get("shape")) + (f" {rec.get('dtype')}" if precise and rec.get("dtype") else "")
    return _numbers.inline(rec, precise)


def node_lines(graph: Graph, n: object) -> list[str]:
    """The rule lines of an op node's picture: 'grad × cos(self) · self = 347 → ×0.14547'."""
    attrs = graph.nodes[n]
    if attrs.get("backward_source"):
        return [f"backward at {attrs['backward_source']}"]
    found = items(graph, n)
    lines = []
    for item in found:
        text = pretty(item["formula"], attrs.get("dtype"))
        if len(text) > RULE_WIDTH:
            text = text[: RULE_WIDTH - 1] + "…"
        head = f"{item['input']}: " if len(found) > 1 else ""
        factor = _numbers.factor(item["local"])
        listed: dict[bool, str] = {}  # saved values as text, by ``brief``
        for brief, with_factor in ((False, True), (True, True), (True, False)):  # NOTE [whole values]
            values = listed.get(brief)
            if values is None:
                values = ", ".join(f"{k} = {_value(r, False, brief)}" for k, r in item["saved"][:MAX_SAVED])
                values = listed[brief] = values + (", …" if len(item["saved"]) > MAX_SAVED else "")
            line = head + text + (f" · {values}" if values else "") + (f" → {factor}" if factor and with_factor else "")
            if len(line) <= LINE_WIDTH:
                break
        lines.append(line)
    return lines


# NOTE [whole values]: a rule line too long for the picture is not cut in the middle, where the
# cut could join the start of one value to the end of another (a saved ``self`` and the factor,
# read as one matrix). Its saved tensors are given by shape instead ('self = [3, 2]'), and if it
# is still too long the factor is left out (the edge labels carry it); the step page shows all.


def _substituted(text: str, names: dict[str, Any]) -> str | None:
    """The rule with each scalar put in for its name; None unless every name used is a known scalar."""
    for name, rec in names.items():
        if not _uses(text, name):
            continue
        if rec is None or rec.get("values") is None or rec.get("shape") not in ([], None):
            return None
        number = _numbers.full(rec["values"], rec.get("dtype"))
        text = _word(name).sub(number, text)
    return text


def _with_numbers(attrs: dict[str, Any], item: dict[str, Any]) -> str | None:
    """The rule with this pass's numbers put in, '= ' the gradient that left; None unless all are known scalars."""
    text = pretty(item["formula"], attrs.get("dtype"))
    put = _substituted(text, {"grad": (attrs.get("grad_in") or [None])[0], **dict(item["saved"])})
    if put is None or item["grad"] is None or put == text:
        return None
    return f"{put} = {_numbers.inline(item['grad'], True)}"


def with_numbers(graph: Graph, n: object) -> list[str]:
    """The 'with numbers' rows of ``panel_rows`` alone (a tooltip shows only these)."""
    attrs = graph.nodes[n]
    if attrs.get("backward_source"):
        return []
    return [text for item in items(graph, n) if (text := _with_numbers(attrs, item)) is not None]


def panel_rows(graph: Graph, n: object) -> list[list[str]]:
    """[key, text] rows of the step page: each formula whole, its saved values, and the rule with
    this pass's numbers put in, equal to the gradient that left (full precision)."""
    attrs = graph.nodes[n]
    if attrs.get("backward_source"):
        return [["backward", f"{attrs.get('op')}.backward at {attrs['backward_source']} (a custom Function)"]]
    rows = []
    for item in items(graph, n):
        rows.append([f"rule for {item['input']}", item["formula"]])
        for k, rec in item["saved"]:
            rows.append(
                [
                    f"saved {k}",
                    _value(rec, True)
                    if rec is None or _numbers.shown(rec, _numbers.INLINE_LIMIT)
                    else "\n".join(_numbers.elements(rec, precise=True)) or _value(rec, True),
                ]
            )
        put = _with_numbers(attrs, item)
        if put is not None:
            rows.append(["with numbers", put])
    return rows
