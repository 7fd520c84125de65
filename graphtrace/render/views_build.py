"""Contract a pass graph by a node -> group assignment into a view graph of group nodes."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, cast

from .._types import Graph, new_graph
from . import _numbers
from .views_graph import Plain

MAX_PARAM_LINES = 3  # groups with more parameters list them in ``table`` instead of ``lines``
MAX_TABLE_ROWS = 16  # per-parameter rows shown in a module group's table
MAX_FOLD_ROWS = 64  # NOTE [fold bars]: a fold of more blocks lists the first and last half of this
_EDGE_KEYS = ("grad", "slots", "input_nr", "input_nrs", "parts")  # kept on edges that touch a group


@dataclass
class NodeGroup:
    """What a group node stands for; its drawn attributes are computed from its members."""

    gid: str  # the view's node id: "g:<module>", "f:<parent>.<a>..<b>", "s:<first member id>"
    kind: str  # "module", "fold" or "structure"
    title: str
    module: str = ""
    module_class: str = ""
    blocks: list[str] = field(default_factory=list)  # fold: block names ("h.3", or "0-1" for a pattern), in order
    rel: str = ""  # fold: prefix stripped from member paths for table labels ("transformer.")
    where: dict[Any, str] = field(default_factory=dict)  # fold: member node -> its block name
    block_of: dict[str, str] = field(default_factory=dict)  # fold: module path -> its block name


def norm_of(rec: dict[str, Any] | None) -> float | None:
    """A record's L2 norm as a float (NaN and Inf as written by the JSON format too)."""
    if rec is None:
        return None
    x = rec.get("norm")
    if isinstance(x, str):
        try:
            return float(x)
        except ValueError:
            return None
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else None


def _rank(rec: dict[str, Any] | None) -> float:
    """Sort key of NOTE [representative gradient]: NaN first, then larger norms."""
    x = norm_of(rec)
    if x is None:
        return -1.0
    return math.inf if math.isnan(x) else x


# NOTE [representative gradient]
# Where one view edge or one group boundary stands for several gradients, it shows the one
# with the largest norm, NaN counting as largest, so a problem is never hidden behind a
# healthy neighbour; ``merged`` says how many there were, drawn "(largest of k edges)" on the
# edge, its tooltip and the step panel (``_numbers.bundle_note``), "(largest of k)" in a box. The
# gradient entering a group at one boundary node is that node's total ``grad_in`` for the output the
# edge feeds (the sum of all contributions), the gradient leaving it is the edge's own ``grad``.
def representative(recs: list[dict[str, Any] | None]) -> dict[str, Any] | None:
    best = None
    for rec in recs:
        if rec is not None and (best is None or _rank(rec) > _rank(best)):
            best = rec
    return best


def merge_edges(edges: list[dict[str, Any]]) -> dict[str, Any]:
    """Attributes of a view edge standing for ``edges`` (NOTE [representative gradient])."""
    rep = edges[0]
    for attrs in edges[1:]:
        if _rank(attrs.get("grad")) > _rank(rep.get("grad")):
            rep = attrs
    out = {k: rep[k] for k in _EDGE_KEYS if k in rep}
    out.setdefault("grad", None)
    out.setdefault("slots", [])
    out["merged"] = len(edges)
    return out


def combined_norm(recs: list[dict[str, Any] | None]) -> float | None:
    """sqrt(sum of squared norms): the norm of the records taken as one vector."""
    norms = [x for x in map(norm_of, recs) if x is not None]
    return math.sqrt(sum([x * x for x in norms])) if norms else None


def param_grad(attrs: dict[str, Any]) -> dict[str, Any] | None:
    """The gradient a parameter leaf got in this pass (its increment, or the returned grad)."""
    return cast("dict[str, Any] | None", attrs.get("returned_grad") or (attrs.get("grad_in") or [None])[0])


class Boundary:
    """Gradients crossing the border of one member set, gathered in one pass over edges."""

    def __init__(self) -> None:
        self.entering: dict[tuple[Any, ...], dict[str, Any] | None] = {}  # (target, input_nr) -> total arriving
        self.leaving: list[dict[str, Any] | None] = []

    def enter(self, nodes: dict[Any, dict[str, Any]], v: object, attrs: dict[str, Any]) -> None:
        for nr in attrs.get("input_nrs") or (attrs.get("input_nr", 0) or 0,):  # NOTE [slots to several outputs]
            if (v, nr) not in self.entering:
                self.entering[(v, nr)] = arriving(nodes[v], nr, attrs)

    def leave(self, attrs: dict[str, Any]) -> None:
        if _numbers.to_outputs(attrs):  # each part, never their sum (NOTE [slots to several outputs])
            self.leaving += [g for _, g in _numbers.edge_grads(attrs)]
        else:
            self.leaving.append(attrs.get("grad"))

    def lines(self) -> list[str]:
        out = []
        for word, recs in (("grad in", list(self.entering.values())), ("grad out", self.leaving)):
            rep = representative(recs)
            if rep is not None:
                more = f" (largest of {len(recs)})" if len(recs) > 1 else ""
                out.append(f"{word} {_numbers.inline(rep)}{more}")
        return out


def arriving(target: dict[str, Any], nr: int, attrs: dict[str, Any]) -> dict[str, Any] | None:
    """The gradient arriving at input ``nr`` of a node: its total ``grad_in``, else the edge's own."""
    grad_in = target.get("grad_in") or ()
    total = grad_in[nr] if nr < len(grad_in) else None
    return total if total is not None else attrs.get("grad")


def _count_line(members: int, leaves: int) -> str:
    ops = members - leaves
    bits = [f"{ops} op" + ("s" if ops != 1 else "")]
    if leaves:
        bits.append(f"{leaves} param" + ("s" if leaves != 1 else ""))
    return ", ".join(bits)  # the total is the renderer's badge (``members``)


def _op_mix(nodes: list[dict[str, Any]], most: int = 3) -> str:
    """What a structure group hides: its commonest ops with their counts ("12 SinBackward0, 4 MulBackward0")."""
    ops = Counter(a.get("op") or "?" for a in nodes).most_common()
    text = ", ".join(f"{k} {op}" for op, k in ops[:most])
    return text + (f", {len(ops) - most} more kinds" if len(ops) > most else "")


class _Scan:
    """What a group needs from its members' attributes, read in one pass over them: the count of
    leaves, the first step, the worst health, and for a fold each block's first step and its
    parameters' gradients (in member order), else its leaves (in member order)."""

    def __init__(self, nodes: dict[Any, dict[str, Any]], members: list[Any], where: dict[Any, str] | None) -> None:
        self.step: int | None = None
        self.first: dict[str, int] = {}  # fold: block -> its first step
        self.grads: dict[str, list[dict[str, Any] | None]] = {}  # fold: block -> its parameters' gradients
        self.leaves: list[Any] = []  # not a fold: the leaf members
        healths: set[str | None] = set()
        health = _numbers.health
        first, grads, leaves = self.first, self.grads, self.leaves
        low = None
        for n in members:
            a = nodes[n]
            kind, step = a.get("kind"), a.get("step")
            if not isinstance(step, int):
                step = None
            elif low is None or step < low:
                low = step
            if kind == "group":
                healths.add(a.get("health"))
            else:
                for rec in a.get("grad_in") or ():
                    if rec is not None:
                        healths.add(health(rec))
            if where is None:
                if kind == "leaf":
                    leaves.append(n)
                continue
            block = where[n]
            if step is not None:
                was = first.get(block)
                if was is None or step < was:
                    first[block] = step
            if kind == "leaf":
                leaves.append(n)
                got = grads.get(block)
                if got is None:
                    grads[block] = [param_grad(a)]
                else:
                    got.append(param_grad(a))
        self.step = low
        self.health = _numbers.worst(list(healths)) or "ok"


def _fold_rows(
    group: NodeGroup, entering: dict[str, list[dict[str, Any] | None]], scan: _Scan
) -> tuple[list[Any], list[Any], list[Any]]:
    """A fold's table, one row per block in the order the gradient reached them (NOTE [fold bars]),
    the norms its bars are drawn from, and summary lines; ``entering``: block -> the gradients
    entering it. Rows past MAX_FOLD_ROWS are neither formatted nor drawn."""
    rows = []
    inf = math.inf
    first, grads = scan.first, scan.grads
    cut = len(group.rel)
    for path in group.blocks:
        p_norm = combined_norm(grads[path]) if path in grads else None
        rows.append((first.get(path, inf), path[cut:], p_norm, path))
    rows.sort(key=lambda r: r[0])  # stable: blocks not reached keep their order, last
    p_norms = [(r[2], r[1]) for r in rows if r[2] is not None]
    lines = ["rows in backward order · bars: blue ‖grad in‖, green params ‖g‖"]
    listed: list[Any] = rows
    if len(rows) > MAX_FOLD_ROWS:
        half = MAX_FOLD_ROWS // 2
        listed = [*rows[:half], None, *rows[-half:]]  # None: the row saying how many were left out
    hidden = f"{len(rows) - MAX_FOLD_ROWS} blocks not listed (fold=False or --depth N draws them)"
    bars = [[norm_of(representative(entering.get(r[3], []))), r[2]] if r else [None, None] for r in listed]
    table = [[r[1], _row_text(*norms)] if r else ["…", hidden] for r, norms in zip(listed, bars)]
    if p_norms:  # ties: the block the gradient reached first names the end
        lo = min(p_norms, key=lambda r: r[0])
        hi = max(p_norms, key=lambda r: r[0])
        if lo[0] == hi[0]:
            which = "" if len(p_norms) == len(rows) else " with parameters"
            lines.append(f"params ‖g‖ {_numbers.num(lo[0])} in each of the {len(p_norms)} blocks{which}")
        else:
            lines.append(f"params ‖g‖ per block {_numbers.num(lo[0])} ({lo[1]}) to {_numbers.num(hi[0])} ({hi[1]})")
    return table, bars, lines


def _row_text(g_norm: float | None, p_norm: float | None) -> str:
    return f"in {_numbers.num(g_norm)}" + (f" · params {_numbers.num(p_norm)}" if p_norm is not None else "")


def _param_row(n: Any, attrs: dict[str, Any], prefix: str) -> list[str]:
    name = attrs.get("param") or attrs.get("name") or f"leaf {n}"
    if prefix and name.startswith(prefix + "."):
        name = name[len(prefix) + 1 :]
    return [name, "‖g‖ " + _numbers.num(norm_of(param_grad(attrs)))]


def _param_lines(
    nodes: dict[Any, dict[str, Any]], group: NodeGroup, leaves: list[Any]
) -> tuple[list[Any] | None, list[Any]]:
    """A group's parameters (its ``leaves``): one line each when few, else a total line and a table
    (only the rows it lists are formatted)."""
    rows = [_param_row(n, nodes[n], group.module) for n in leaves[:MAX_TABLE_ROWS]]
    if len(leaves) <= MAX_PARAM_LINES:
        return None, [f"{name} {value}" for name, value in rows]
    total = combined_norm([param_grad(nodes[n]) for n in leaves])
    if len(leaves) > MAX_TABLE_ROWS:
        rows.append(["…", f"{len(leaves) - MAX_TABLE_ROWS} more"])
    return rows, [f"params ‖g‖ {_numbers.num(total)} ({len(leaves)} tensors)"]


def group_attrs(
    nodes: dict[Any, dict[str, Any]],
    group: NodeGroup,
    members: list[Any],
    border: Boundary,
    entering: dict[str, list[dict[str, Any] | None]] | None = None,
) -> dict[str, Any]:
    """The node attributes of one group (NOTE [view nodes] in views.py); ``nodes``: node -> its
    attributes; ``entering``: for a fold, block -> the gradients entering it."""
    scan = _Scan(nodes, members, group.where if group.kind == "fold" else None)
    lines = [_count_line(len(members), len(scan.leaves)), *border.lines()]
    if group.kind == "structure":
        lines.insert(1, _op_mix([nodes[n] for n in members]))
    table: list[Any] | None
    if group.kind == "fold":
        lines[0] = f"{len(group.blocks)} × {len(members) // len(group.blocks)} nodes, one row per block"
        table, bars, more = _fold_rows(group, entering or {}, scan)
    else:
        bars = []
        table, more = _param_lines(nodes, group, scan.leaves)
    grad_in = representative(list(border.entering.values()))
    attrs = {
        "kind": "group",
        "op": group.module_class or "group",
        "name": "",
        "param": "",
        "shape": grad_in["shape"] if grad_in else None,
        "dtype": None,
        "device": None,
        "requires_grad": None,
        "is_leaf": False,
        "retains_grad": None,
        "value": None,
        "step": scan.step,
        "grad_in": [grad_in],
        "retained_grad": None,
        "source": "",
        "module": group.module,
        "module_class": group.module_class,
        "outputs": 1,
        "title": group.title,
        "lines": lines + more,
        "health": scan.health,
        "members": len(members),
        "repeat": max(1, len(group.blocks)),
        "member_ids": list(members),
    }
    if table:
        attrs["table"] = table
    if bars:
        attrs["bars"] = bars
    return attrs


def _entering(
    into: dict[tuple[Any, int], tuple[str, Any]], block: str, v: Any, attrs: dict[str, Any], target: dict[str, Any]
) -> None:
    """Record the gradient an edge brings into ``v``'s folded ``block`` from outside it; ``into``:
    the fold's (node, input) -> (block, gradient), the first edge per input kept."""
    nr = attrs.get("input_nr", 0) or 0
    if (v, nr) not in into:
        into[v, nr] = (block, arriving(target, nr, attrs))


def contract(plain: Plain, assign: dict[Any, str], groups: dict[str, NodeGroup]) -> Graph:
    """The view: the pass with each group's members replaced by one node, edges merged.

    Nodes keep the order of their first member in the pass; edges the order of their first
    original edge. Edges inside a group disappear. O(nodes + edges).
    """
    view = new_graph()  # NOTE [networkx on first use]
    view.graph.update(plain.graph.graph)
    attrs_of = plain.nodes
    members: dict[str, list[Any]] = {}
    for n, attrs in attrs_of.items():
        g = assign.get(n)
        if g is None:
            view.add_node(n, **attrs)
        else:
            ms = members.get(g)
            if ms is None:
                ms = members[g] = []
                view.add_node(g)
            ms.append(n)
    borders = {g: Boundary() for g in members}
    entering: dict[str, dict[tuple[Any, int], tuple[str, Any]]] = {}  # fold -> (node, input) -> (block, gradient)
    folds: dict[str | None, tuple[dict[Any, str], dict[tuple[Any, int], tuple[str, Any]]]] = {}  # (member -> block, ^)
    for g in members:
        if groups[g].kind == "fold":
            entering[g] = {}
            folds[g] = (groups[g].where, entering[g])
    merged: dict[tuple[Any, ...], Any] = {}  # view edge -> the attrs of an edge kept as it was, or a list
    for u, targets in plain.succ.items():  # the edges in graph.edges order
        a = assign.get(u)
        inside = folds.get(a) if a is not None else None  # u's fold, for the edges that stay in it
        u_block = inside[0].get(u) if inside is not None else None
        for v, attrs in targets.items():
            b = assign.get(v)
            if b == a:  # between two drawn nodes, kept as it was; or inside one group, gone
                if a is None:
                    merged[u, v] = attrs
                elif inside is not None:
                    block = inside[0].get(v)
                    if block is not None and block != u_block:  # into another block of u's fold
                        _entering(inside[1], block, v, attrs, attrs_of[v])
                continue
            fold = folds.get(b)  # folds have distinct block names: u is in v's block iff b's map says so
            if fold is not None:
                block = fold[0].get(v)
                if block is not None and block != fold[0].get(u):
                    _entering(fold[1], block, v, attrs, attrs_of[v])
            if a is not None:
                borders[a].leave(attrs)
            if b is not None:
                borders[b].enter(attrs_of, v, attrs)
            merged.setdefault((u if a is None else a, v if b is None else b), []).append(attrs)
    for (a, b), edges in merged.items():
        view.add_edge(a, b, **(merge_edges(edges) if isinstance(edges, list) else edges))
    for g, ms in members.items():
        by_block: dict[str, list[dict[str, Any] | None]] = {}
        for path, rec in entering.get(g, {}).values():
            by_block.setdefault(path, []).append(rec)
        view.nodes[g].update(group_attrs(attrs_of, groups[g], ms, borders[g], by_block))
    return view
