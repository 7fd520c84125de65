"""Views of big passes: collapse to a module depth, fold repeated blocks, auto-reduce (plain data)."""

from __future__ import annotations

import math
from typing import Any

from .._errors import GraphtraceError
from .._types import Graph
from .views_build import NodeGroup, contract
from .views_graph import read
from .views_modules import ModuleIndex, assign_modules, find_runs, knows_modules, open_paths
from .views_structure import collapse

NODE_BUDGET = 400  # NOTE [views]: passes with more nodes than this are reduced automatically
HINT = "every node is in the pass's JSON; draw them all with budget=10**9, or choose modules with depth= (--depth)"

# NOTE [views]
# ``apply(graph, depth=, expand=, fold=, budget=)`` returns the graph to draw. It never
# changes ``graph``; it returns ``graph`` itself when it has at most ``budget`` nodes and
# neither ``depth`` nor ``fold=True`` was asked, else a new DiGraph whose graph attribute
# ``view_note`` says what was collapsed, ``view`` records the options used and, for an
# automatic view, ``view_hint`` says how to see what it hid (drawn under the title).
#
# depth=N   every module at path depth N ("transformer.h.3" has depth 3) becomes one node
#           of kind "group"; a module shallower than N with no modules inside (lm_head)
#           is grouped whole; ops run directly in a container module (a residual add),
#           ops outside every module, roots and ``inputs=`` nodes stay as they are.
#           A parameter leaf belongs to the module that owns the parameter (its ``param``
#           name minus the last part), so a tied weight sits with its owner.
# expand=   module paths kept open: their children are grouped one level deeper instead.
#           Names not in the pass are reported in ``view_note``.
# fold=True NOTE [fold]: runs of 2+ numbered siblings ``p.i, p.i+1, ...`` (children of a
#           ModuleList/Sequential) with the same class and the same structure (multisets
#           of (relative module path, op) nodes and of internal edges) are drawn as one
#           node with ``repeat`` = run length and a ``table`` row per block: the norm of
#           the gradient entering the block and of its parameters' gradients, so
#           vanishing or exploding gradients across depth show at a glance. A block
#           named in ``expand`` breaks the run and is drawn open. A block may also be a
#           pattern of up to PERIOD siblings repeated alike (a flat Sequential of
#           Linear, ReLU, Linear, ReLU, ... folds as blocks "0-1", "2-3", ...).
#           NOTE [fold bars]: the rows are in the order the backward reached the blocks
#           (the last block first, as the gradient flows), and ``bars`` holds per row
#           [norm entering, params norm] (floats or None), drawn as bars whose length is
#           proportional to the norm, each column scaled to its own largest value. Over
#           MAX_FOLD_ROWS blocks, the first and last half of that are listed and one row
#           between them says how many were not.
# auto      over budget with no option: when ops know their modules, repeated blocks are
#           folded (unless fold=False) and the deepest module depth whose view fits the
#           budget is used; what still does not fit, or a pass without module
#           provenance, is reduced structurally (NOTE [structural collapse]).
#
# NOTE [view nodes]
# NodeGroup node ids are strings, so they never collide with the int ids of real nodes, and
# are deterministic: "g:<module path>", "f:<parent>.<first>..<last>" for a fold,
# "s:<id of its first member>" for a structural group. A group node carries the usual node
# keys (kind="group", op=its class, step=its first member's step, grad_in=[the gradient
# entering it], module, module_class, ...) and: title (str), lines (list[str]: member count,
# gradient entering and leaving it, its parameters' gradient norms), health ("nan", "inf",
# "zero" or "ok": the worst gradient of any member), members (int), repeat (int), member_ids
# (list of the original ids), and optionally table (list of [label, value] rows) and, for a
# fold, bars (NOTE [fold bars]).
# Edges touching a group keep grad, slots, input_nr (and parts) of one representative
# edge (NOTE [representative gradient] in views_build.py) and ``merged``, the number of
# original edges they stand for. Nodes and edges keep the order of their first member.


def apply(
    graph: Graph,
    *,
    depth: int | None = None,
    expand: tuple[Any, ...] | str = (),
    fold: bool | None = None,
    budget: int | None = NODE_BUDGET,
) -> Graph:
    """The graph to draw: ``graph`` itself while it is small, else a reduced view (NOTE [views])."""
    if depth is not None and (not isinstance(depth, int) or isinstance(depth, bool) or depth < 1):
        raise GraphtraceError(f"depth must be a positive int (module path depth), not {depth!r}")
    expand = (expand,) if isinstance(expand, str) else tuple(expand or ())
    limit = math.inf if budget is None else budget
    n0 = graph.number_of_nodes()
    asked = depth is not None or fold is True
    if not asked and n0 <= limit:
        return graph
    g = graph.graph
    protected = set(g.get("roots") or []) | set(g.get("inputs") or [])
    plain = read(graph)  # NOTE [plain reads]: attributes and adjacency, read once for every step below
    nodes = plain.nodes
    protected |= {n for n, a in nodes.items() if a.get("kind") == "root"}
    notes: list[str] = []
    assign: dict[str, Any] = {}
    groups: dict[str, NodeGroup] = {}
    used_depth = depth
    if knows_modules(nodes):
        index = ModuleIndex(plain, protected)
        opened = open_paths(expand)
        runs = find_runs(index, opened) if fold is True or (fold is None and not asked) else {}
        if asked:
            assign, groups = assign_modules(index, depth, opened, runs)
        else:
            for used_depth in range(max(1, index.max_depth), 0, -1):
                assign, groups = assign_modules(index, used_depth, opened, runs)
                if _size(n0, assign) <= limit:
                    break
        notes += _module_notes(groups, used_depth, expand, index, fold)
    elif asked:
        notes.append("ops carry no module paths (capture under graphtrace.trace() records them)")
        used_depth = None
    if not asked and _size(n0, assign) > limit:  # NOTE [structural collapse], module groups as units
        folded = {n: g for n, g in assign.items() if groups[g].kind == "fold"}
        free = {n for n in nodes if n not in folded and n not in protected}
        units = {n: g for n, g in assign.items() if n in free}
        extra, more, done = collapse(plain, free, _size(n0, assign), int(limit), units, groups)
        assign = {**folded, **extra}
        groups = {g: gr for g, gr in groups.items() if gr.kind == "fold"} | more
        notes += done
    view = contract(plain, assign, groups)
    n1 = view.number_of_nodes()
    head = "" if asked else f"auto view of a pass over {budget} nodes: "
    view.graph["view_note"] = head + "; ".join(notes or ["nothing to collapse"]) + f" ({n0} → {n1} nodes)"
    if not asked:
        view.graph["view_hint"] = HINT
    view.graph["view"] = {
        "depth": used_depth if assign else depth,
        "expand": list(expand),
        "fold": any(gr.kind == "fold" for gr in groups.values()),
        "auto": not asked,
        "nodes": n0,
        "shown": n1,
    }
    return view


def _size(n0: int, assign: dict[str, Any]) -> int:
    """Nodes in the view: untouched nodes plus one per group."""
    return n0 - len(assign) + len(set(assign.values()))


def _module_notes(
    groups: dict[str, NodeGroup], depth: int | None, expand: tuple[Any, ...], index: ModuleIndex, fold: bool | None
) -> list[str]:
    folds = {gr.gid: gr for gr in groups.values() if gr.kind == "fold"}
    notes = []
    if folds:
        notes.append("folded " + ", ".join(f"{gr.title} ×{len(gr.blocks)}" for gr in folds.values()))
    elif fold:
        notes.append("no repeated blocks to fold")
    if depth is not None and any(gr.kind == "module" for gr in groups.values()):
        notes.append(f"modules collapsed to depth {depth}")
    if expand:
        missing = [p for p in expand if p not in index.known]
        opened = [p for p in expand if p in index.known]
        if opened:
            notes.append("open: " + ", ".join(opened))
        if missing:
            notes.append("expand: no module " + ", ".join(repr(p) for p in missing) + " in this pass")
    return notes
