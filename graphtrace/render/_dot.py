"""DOT source of a pass graph: title, legend, nodes, edges and module clusters (pure string work)."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from .._types import Graph
from . import _labels, _numbers
from ._clusters import nest
from ._nodes import node_attrs, node_health
from ._tips import edge_tip, node_tip

# NOTE [dot speed]: on a GPT-2-sized pass (700+ nodes) dot's time goes mostly to text:
# parsing and measuring labels (HTML tables cost most, so node labels are plain lines), and
# edge labels, which dot turns into extra ranks of label nodes (doubling the ranks and the
# x-positioning work). Graphs over BIG nodes + edges therefore get their edge labels as
# xlabels (placed after layout) and capped network-simplex and crossing work (nslimit,
# nslimit1, mclimit, remincross; dot 2.43 can crash with nslimit when edges carry real
# labels, so it is only set together with xlabels); over LINES, straight edges, since
# routing long edges past hundreds of nodes can take seconds. Small graphs keep dot's
# defaults. Size counts edges too: a 52-node view with 432 edges took dot 40 s unlimited.
BIG = 300  # nodes + edges
LINES = 800
FAST = {"nslimit": "0.5", "nslimit1": "0.5", "mclimit": "0.2", "remincross": "false"}
FONT = "DejaVu Sans,Liberation Sans,Arial,Helvetica,sans-serif"  # widest first: NOTE [text fits its box] in _svg.py

_SAFE = re.compile(r"[^A-Za-z0-9]")


def dom_id(n: object) -> str:
    """A DOM- and DOT-safe, injective id for a node id: letters and digits kept, others as _hex_."""
    s = str(n)
    if s.isascii() and s.isalnum():  # only letters and digits (node ids are ints): nothing to replace
        return s
    return _SAFE.sub(lambda m: f"_{ord(m.group()):x}_", s)


def node_dom_id(n: object) -> str:
    """The SVG id of a node's group, as the step-through page looks it up."""
    return f"node-{dom_id(n)}"


def edge_dom_id(u: object, v: object) -> str:
    """The SVG id of an edge's group."""
    return f"edge-{dom_id(u)}-{dom_id(v)}"


def quote(value: str) -> str:
    """A DOT attribute value: HTML-like labels as they are, other strings quoted."""
    if value.startswith("<") and value.endswith(">"):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def attr_list(attrs: dict[str, str], defaults: dict[str, str] | None = None) -> str:
    """``[k=v ...]``, leaving out the attributes equal to ``defaults`` (set once for every node or edge)."""
    items = [f"{k}={quote(v)}" for k, v in attrs.items() if defaults is None or defaults.get(k) != v]
    return "[" + " ".join(items) + "]"


# NOTE [light DOT]: what most nodes and edges share is said once, in the ``node`` and ``edge``
# defaults, and each element states only where it differs: per picture, the commonest box,
# style, fill and class of its nodes (an op's, or a snapshot's dashed "not run" op), and the
# commonest colour, class and label colour of its edges. Only attributes every node (edge)
# states are defaulted (and the label colour, which only labelled edges use), so nothing
# takes a default it did not have; dot applies defaults exactly as if written on each
# element, so the SVG is byte for byte the same. The source is shorter, and dot parses less.
NODE_DEFAULTS = {"shape": "box", "style": "filled,rounded", "fillcolor": _labels.FILLS["op"], "class": "gt-op"}
EDGE_DEFAULTS = {"color": _labels.COLORS["ok"], "class": "gt-edge gt-ok", "fontcolor": "#222222"}


def commonest(elements: list[dict[str, str]], fallback: dict[str, str]) -> dict[str, str]:
    """For each key of ``fallback``: the value most elements that state it have (the first on a tie)."""
    out = {}
    for key, value in fallback.items():
        counts = Counter(e[key] for e in elements if key in e)
        out[key] = max(counts, key=lambda v: counts[v]) if counts else value
    return out


def title_rows(graph: Graph) -> list[str]:
    """The title rows: the pass's title (_labels.pass_title), a view's note, what capture could not
    record (a pass's ``capture_error``: e.g. its forward ran while the trace was lean), the error if
    the backward raised."""
    g = graph.graph
    rows = [_labels.font(_labels.esc(_labels.pass_title(graph), 160), bold=True)]
    if g.get("view_note"):
        rows.append(_labels.font(_labels.esc(g["view_note"], 200), _labels.MUTED))
    if g.get("view_hint"):
        rows.append(_labels.font(_labels.esc(g["view_hint"], 200), _labels.MUTED))
    if g.get("capture_error"):
        rows.append(_labels.font(_labels.esc(str(g["capture_error"]), 200), _labels.MUTED))
    if g.get("error"):
        rows.append(_labels.font(_labels.esc("error: " + g["error"], 160), _labels.COLORS["nan"], bold=True))
    return rows


_KINDS = (
    ("root", "output: the seed"),
    ("op", "op: a backward function"),
    ("leaf", "leaf: .grad accumulates"),
    ("group", "group of nodes"),
)


def _marks(graph: Graph, values: bool) -> list[tuple[str, str | None]]:
    """The notation this picture uses, each with its colour (NOTE [one span per line])."""
    c = _labels.COLORS
    edges = [a for _, _, a in graph.edges(data=True)]
    nodes = [a for _, a in graph.nodes(data=True)]
    healths = {_numbers.edge_health(a) for a in edges} | {node_health(a) for a in nodes}
    marks: list[tuple[str, str | None]] = []
    if values and any(_numbers.edge_grads(a) for a in edges):
        marks.append(("edge label: the gradient that flowed", None))
    if values and any(_numbers.factor(a.get("local")) for a in edges):
        marks.append(("×local derivative", _labels.LOCAL))
    if values and any(a.get("formula") or a.get("backward_source") for a in nodes):
        marks.append(("rule: PyTorch's backward formula, saved values → ×local", _labels.LOCAL))
    if values and any(graph.in_degree(n) > 1 and a.get("step") is not None for n, a in graph.nodes(data=True)):
        marks.append(("grad in: contributions and their sum", None))
    if values and any(a.get("kind") == "leaf" and a.get("grad_after") is not None for a in nodes):
        marks.append((".grad before + increment = after", None))
    if healths & {"nan", "inf"}:
        marks.append(("red: NaN/Inf gradient", c["nan"]))
    if "zero" in healths:
        marks.append(("grey: all-zero gradient", c["zero"]))
    if any(a.get("kind") != "group" and a.get("step") is None for a in nodes):
        marks.append(("dashed: did not run", None))
    return marks


def legend(graph: Graph, values: bool = True) -> str:
    """How to read this picture: the chain rule, the node colours, and only the marks it uses."""
    kinds = {a.get("kind", "op") for _, a in graph.nodes(data=True)}
    first: list[tuple[str, str | None, str | None]] = [
        (_labels.esc("↓ gradient flows from the output (top) to the leaves"), _labels.COLORS["ok"], None)
    ]
    if values:
        first.append((_labels.esc("gradient leaving a node = gradient arriving × local derivative"), None, None))
    colours: list[tuple[str, str | None, str | None]] = [
        (_labels.esc(text), None, _labels.FILLS[k]) for k, text in _KINDS if k in kinds
    ]
    marks: list[tuple[str, str | None, str | None]] = [
        (_labels.esc(t), color, None) for t, color in _marks(graph, values)
    ]
    cells = [first, colours] + [marks[i : i + 4] for i in range(0, len(marks), 4)]

    def cell(text: str, color: str | None, fill: str | None) -> str:
        bg = f' BGCOLOR="{fill}"' if fill else ""
        return f'<TD ALIGN="LEFT"{bg}>{_labels.font(text, color, 10)}</TD>'

    table = '<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="2" CELLPADDING="1">'
    rows = "".join(
        f'<TR><TD ALIGN="LEFT">{table}<TR>{"".join(cell(*c) for c in r)}</TR></TABLE></TD></TR>' for r in cells if r
    )  # a table per row: columns of different rows need not line up
    return f'<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="0">{rows}</TABLE>'


def graph_label(graph: Graph, values: bool = True) -> str:
    rows = "".join(f'<TR><TD ALIGN="LEFT">{r}</TD></TR>' for r in title_rows(graph))
    rows += f'<TR><TD ALIGN="LEFT">{legend(graph, values)}</TD></TR>'
    return f'<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="1">{rows}</TABLE>>'


def edge_attrs(u: object, v: object, attrs: dict[str, Any], values: bool, big: bool = False) -> dict[str, str]:
    grad = attrs.get("grad")
    health = _numbers.edge_health(attrs)
    out = {"id": edge_dom_id(u, v), "color": _labels.COLORS[health], "class": f"gt-edge gt-{health or 'none'}"}
    note = _numbers.bundle_note(attrs)
    outputs = attrs["input_nrs"] if _numbers.to_outputs(attrs) else None
    label = _labels.edge_label(grad, attrs.get("local"), attrs.get("parts"), values, big, note, outputs)
    if label:
        out["xlabel" if big else "label"] = label  # NOTE [dot speed]: xlabels add no ranks
        out["fontcolor"] = _labels.COLORS[health] if health in ("nan", "inf", "zero") else "#222222"
    if health in ("nan", "inf"):
        out["penwidth"] = "2"
    if not _numbers.edge_grads(attrs):
        out["style"] = "dashed"
    tip = edge_tip(attrs) if values and not big else ""
    if tip:
        out["tooltip"] = tip  # NOTE [numbers that never mislead]: full precision on hover
    return out


def _node_attrs(graph: Graph, n: object, attrs: dict[str, Any], values: bool, big: bool) -> dict[str, str]:
    """A node's DOT attributes: its id, label and style, and its tooltip of full-precision numbers."""
    node = {"id": node_dom_id(n), **node_attrs(graph, n, attrs, values, big)}
    if values and not big and attrs.get("kind") != "group":
        node["tooltip"] = node_tip(graph, n, attrs)  # NOTE [numbers that never mislead]
    return node


def to_dot_source(graph: Graph, *, values: bool = True, clusters: bool = False) -> str:
    """DOT for an already-reduced graph; O(nodes + edges)."""
    index = graph.graph.get("index", 0)
    head = {
        "rankdir": "TB",
        "label": graph_label(graph, values),
        "labelloc": "t",
        "labeljust": "l",
        "fontname": FONT,
        "nodesep": "0.25",
        "ranksep": "0.35",
        "bgcolor": "white",
    }
    size = graph.number_of_nodes() + graph.number_of_edges()
    big = size > BIG
    if big:
        head.update(FAST)
    if size > LINES:
        head["splines"] = "line"
    lines = [f"digraph {quote(f'pass{index}')} {{"]
    lines += [f"  {k}={quote(v)}" for k, v in head.items()]
    nodes = [(n, _node_attrs(graph, n, attrs, values, big)) for n, attrs in graph.nodes(data=True)]
    edges = [(u, v, edge_attrs(u, v, attrs, values, big)) for u, v, attrs in graph.edges(data=True)]
    node_defaults = commonest([a for _, a in nodes], NODE_DEFAULTS)  # NOTE [light DOT]
    edge_defaults = commonest([a for _, _, a in edges], EDGE_DEFAULTS)
    lines.append(f"  node {attr_list({'fontname': FONT, 'fontsize': '11', 'margin': '0.1,0.05', **node_defaults})}")
    lines.append(f"  edge {attr_list({'fontname': FONT, 'fontsize': '10', 'arrowsize': '0.7', **edge_defaults})}")
    node_lines = [(n, f"n{dom_id(n)} {attr_list(a, node_defaults)}") for n, a in nodes]
    if clusters:  # NOTE [nested clusters] in _clusters.py
        outside, boxes = nest(graph, node_lines)
        lines += ["  " + line for line in outside] + boxes
    else:
        lines += ["  " + line for _, line in node_lines]
    lines += [f"  n{dom_id(u)} -> n{dom_id(v)} {attr_list(a, edge_defaults)}" for u, v, a in edges]
    lines.append("}")
    return "\n".join(lines) + "\n"
