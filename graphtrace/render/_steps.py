"""The step-through data of a pass: per step, plain text about the node and the gradients in and out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .._types import Graph
from . import _labels, _numbers
from . import _rules as R
from ._check import check_rows
from ._dot import BIG, edge_dom_id, node_dom_id
from ._nodes import arrived, local_after, node_name, parts, shard_text


def _text(rec: dict[str, Any] | None) -> str:
    """A record as panel text at full precision: element by element when recorded, else summarised."""
    if rec is None:
        return "None"
    if _numbers.shown(rec, _numbers.INLINE_LIMIT) and len(rec.get("shape") or []) <= 1:
        return _numbers.inline(rec, precise=True)
    lines = _numbers.elements(rec, precise=True)
    if lines:
        return "\n".join(lines)
    return f"{_numbers.shape_text(rec.get('shape'))} {_numbers.stats(rec)}"


def _edge_text(edge: dict[str, Any], outputs: int = 1) -> str:
    """An edge's gradient as panel text, after its ``_numbers.bundle_note`` if it has one; into a
    target of several ``outputs``, after the output it went to."""
    grads = _numbers.edge_grads(edge)
    into_one = outputs > 1 and _numbers.bundled(edge) == 1  # a view's bundle keeps its note below
    if grads and (_numbers.to_outputs(edge) or into_one):  # NOTE [slots to several outputs] in capture/recorder.py
        return "\n".join(f"to output {nr}: {_text(g)}" for nr, g in grads)
    note = _numbers.bundle_note(edge)
    return f"{note} {_text(edge.get('grad'))}" if note else _text(edge.get("grad"))


def _sum(contributions: Sequence[dict[str, Any] | None], total: dict[str, Any] | None) -> str:
    """Contributions and their sum at full precision, element by element, or listed by norm."""
    return "\n".join(_numbers.sum_lines(contributions, total, precise=True)[0])


def _sums(by_output: dict[int, list[dict[str, Any]]], attrs: dict[str, Any]) -> str:
    """The panel's sum: of the contributions to the node's one output, or to each output that got
    several (NOTE [slots to several outputs] in capture/recorder.py); "" when nothing was added."""
    if list(by_output) == [0]:
        return _sum(by_output[0], arrived(attrs)) if len(by_output[0]) > 1 else ""
    return "\n".join(
        f"output {nr}:\n{_sum(parts, arrived(attrs, nr))}" for nr, parts in sorted(by_output.items()) if len(parts) > 1
    )


def node_title(attrs: dict[str, Any]) -> str:
    name = node_name(attrs)
    if attrs.get("kind") == "group":
        return attrs.get("title") or "group"
    if attrs.get("kind") in ("root", "leaf"):
        return f"{name or attrs.get('kind')} ({'output' if attrs.get('kind') == 'root' else 'leaf'})"
    return f"{name} = {attrs.get('op')}" if name else str(attrs.get("op"))


def _facts(graph: Graph, attrs: dict[str, Any]) -> list[list[str]]:
    """[key, text] rows describing a node."""
    rows = []
    if attrs.get("shape") is not None:
        rows.append(["tensor", f"{attrs.get('dtype') or ''} {_numbers.shape_text(attrs['shape'])}".strip()])
    for key in ("module", "source", "code"):
        if attrs.get(key):
            rows.append([key, str(attrs[key])])
    if attrs.get("kind") == "group":
        rows += [["", str(line)] for line in attrs.get("lines") or []]
        rows += [[str(k), str(v)] for k, v in attrs.get("table") or []]
    if attrs.get("value") is not None:
        rows.append(["value", _text(attrs["value"])])
    if attrs.get("retained_grad") is not None:
        rows.append(["retained .grad", _text(attrs["retained_grad"])])
    rows += check_rows(attrs)
    return rows


def _grad_rows(graph: Graph, attrs: dict[str, Any]) -> list[list[str]]:
    """How the node's gradient changed: the seed, a leaf's .grad, or a returned grad."""
    grad_in = (attrs.get("grad_in") or [None])[0]
    if attrs.get("kind") == "root":
        return [["seed gradient", _text(grad_in)]]
    if attrs.get("kind") != "leaf":
        returned = attrs.get("returned_grad")
        return [] if returned is None else [["returned grad", _text(returned)]]
    if graph.graph.get("kind") == "grad" or attrs.get("returned_grad") is not None:
        return [
            ["returned grad", _text(attrs.get("returned_grad") or grad_in)],
            [".grad", f"untouched: {_numbers.inline(attrs.get('grad_before'), precise=True)}"],
        ]
    before, after = attrs.get("grad_before"), local_after(attrs)
    post = _labels.hooks_of(attrs, "post_accumulate")
    if post:  # .grad as accumulated; the hook's change is a step of its own
        after = post[0].get("before")
    rows = [[".grad before", _text(before)], ["+ increment", _text(grad_in)], ["= .grad after", _text(after)]]
    reduced = attrs.get("reduced")
    shard = attrs.get("shard")
    if isinstance(shard, dict):  # NOTE [sharded parameters] in capture/shards.py
        rows.append([f"reduce-scatter, {shard_text(shard)}", _text(attrs.get("grad_after"))])
    elif isinstance(reduced, dict):  # NOTE [all-reduce] in capture/reduced.py
        rows.append([f"all-reduce, {reduced.get('world_size')} ranks", _text(attrs.get("grad_after"))])
    return rows


def _hook_step(base: dict[str, Any], attrs: dict[str, Any], entry: dict[str, Any]) -> dict[str, Any]:
    """A hook that changed a gradient, as a step of its own beside its node's: a tensor hook
    with the gradients arriving, a module or post-accumulate hook with those leaving."""
    kind = _labels.HOOK_TITLES.get(entry.get("kind", ""), "hook")
    arriving = entry.get("kind") == "tensor"
    return dict(
        base,
        kind="hook",
        title=f"{kind} on {node_title(attrs)}",
        facts=[],
        rule=[],
        grads=[["before", _text(entry.get("before"))], ["after the hook", _text(entry.get("after"))]],
        sum=base["sum"] if arriving else "",
        **{"in": base["in"] if arriving else [], "out": [] if arriving else base["out"]},
    )


def steps(graph: Graph, values: bool = True) -> list[dict[str, Any]]:
    """The nodes that ran, in step order, each with what the side panel shows and what it reveals:
    ``known``, how many of the node's label lines the forward pass knew (NOTE [lines known before
    a step]); the gradients of the edges in ``out`` are computed by the step (hook steps reveal nothing)."""
    ran = sorted((a["step"], i, n) for i, (n, a) in enumerate(graph.nodes(data=True)) if a.get("step") is not None)
    brief = graph.number_of_nodes() + graph.number_of_edges() > BIG  # as _dot draws it
    out = []
    for step, _, n in ran:
        attrs = graph.nodes[n]
        arriving, outputs = [], attrs.get("outputs")
        for u in graph.predecessors(n):
            e = graph.edges[u, n]
            arriving.append(
                {
                    "edge": edge_dom_id(u, n),
                    "from": node_title(graph.nodes[u]),
                    "grad": _edge_text(e, outputs if isinstance(outputs, int) else 1),
                    "health": _numbers.edge_health(e) or "none",
                }
            )
        leaving = []
        for v in graph.successors(n):
            e = graph.edges[n, v]
            leaving.append(
                {
                    "edge": edge_dom_id(n, v),
                    "to": node_title(graph.nodes[v]),
                    "grad": _edge_text(e),
                    "local": _numbers.factor(_numbers.like(e.get("local"), e.get("grad")), precise=True),
                    "health": _numbers.edge_health(e) or "none",
                }
            )
        into = [graph.edges[u, n] for u in graph.predecessors(n)]
        by_output = _numbers.arriving(into)
        if any(_numbers.bundled(e) > 1 for e in into):  # the largest of each bundle do not add up
            by_output = {}
        known = len(parts(graph, n, attrs, values, brief)[0]) if attrs.get("kind") != "group" else None
        base = {
            "node": node_dom_id(n),
            "step": step,
            "kind": attrs.get("kind", "op"),
            "title": node_title(attrs),
            "facts": _facts(graph, attrs),
            "grads": _grad_rows(graph, attrs),
            "in": arriving,
            "sum": _sums(by_output, attrs),
            "out": leaving,
            "rule": R.panel_rows(graph, n) if values and attrs.get("kind") == "op" else [],
            "known": known,
        }
        out += [_hook_step(base, attrs, h) for h in _labels.hooks_of(attrs, "tensor")]  # before the node used it
        out.append(base)
        out += [_hook_step(base, attrs, h) for h in _labels.hooks_of(attrs, "module", "node", "post_accumulate")]
    return out
