"""DOT attributes of one node (root, op, leaf or group) of a pass graph."""

from __future__ import annotations

import math
from typing import Any

from .._types import Graph
from . import _labels, _numbers
from . import _rules as R
from ._check import MISMATCH, check_line, mismatched


def node_name(attrs: dict[str, Any]) -> str:
    return attrs.get("name") or attrs.get("param") or ""


def _bold_line(text: str) -> str:
    return _labels.font(_labels.esc(text), bold=True)


def _info_line(attrs: dict[str, Any]) -> list[str]:
    """The muted second line: step number, dtype and shape, a leaf's flags (NOTE [one span per line])."""
    shape = attrs.get("shape")
    step = attrs.get("step")
    bits = [
        "not run" if step is None else f"step {step}",
        attrs.get("dtype") or "",
        "" if shape is None else _numbers.shape_text(shape),
    ]
    text = " · ".join(b for b in bits[:2] if b) + (" " + bits[2] if bits[2] else "")
    outputs = attrs.get("outputs")
    if isinstance(outputs, int) and outputs > 1:  # its value, shape and name are its first output's
        text += f" · output 0 of {outputs}"
    if attrs.get("kind") == "leaf":
        text += f" · is_leaf={attrs.get('is_leaf', True)} requires_grad={attrs.get('requires_grad')}"
    return [_labels.font(_labels.esc(text), _labels.MUTED, 10)]


def arrived(attrs: dict[str, Any], output: int = 0) -> dict[str, Any] | None:
    """What reached an output of the node (its first) before any tensor hook changed it (the edges' sum)."""
    for h in _labels.hooks_of(attrs, "tensor"):
        if h.get("output", 0) == output:
            before: dict[str, Any] | None = h.get("before")
            return before
    grad_in = attrs.get("grad_in") or []
    got: dict[str, Any] | None = grad_in[output] if output < len(grad_in) else None
    return got


def _in_sum(graph: Graph, n: object, attrs: dict[str, Any], brief: bool = False) -> list[str]:
    """Where several gradients meet a node: each contribution and their sum, output by output on
    a node with several outputs; where a drawn edge stands for several, only the sum and how many
    edges it came by (NOTE [representative gradient])."""
    edges = [graph.edges[u, n] for u in graph.predecessors(n)]
    by_output = _numbers.arriving(edges)
    if not attrs.get("grad_in") or not by_output:
        return []
    many = sum(map(_numbers.bundled, edges))
    if many > len(edges):  # the drawn parts are the largest of each bundle: they do not add up
        return _labels.value_lines(f"grad in, the sum over {many} edges", arrived(attrs), attrs.get("shape"), brief)
    if list(by_output) == [0]:
        parts = by_output[0]
        return _labels.sum_lines("grad in", parts, arrived(attrs), brief) if len(parts) > 1 else []
    lines = []  # NOTE [slots to several outputs] in capture/recorder.py: each output adds its own
    for nr in sorted(by_output):
        key, total = f"grad in, output {nr}:", arrived(attrs, nr)
        if len(by_output[nr]) > 1:
            lines += _labels.sum_lines(key, by_output[nr], total, brief)
        else:
            lines += _labels.value_lines(key, total or by_output[nr][0], None, brief)
    return lines


def hook_lines(attrs: dict[str, Any], *kinds: str) -> list[str]:
    """One coloured line per hook that changed a gradient (NOTE [one span per line])."""
    return [_labels.font(_labels.esc(_labels.hook_text(h), 120), _labels.HOOK) for h in _labels.hooks_of(attrs, *kinds)]


# NOTE [lines known before a step]: a node's label lists first what the forward pass knew
# (title, step, dtype and shape, the code line, the forward value), then what its backward
# step computed (the rule with its local derivative, gradients, hooks, .grad). The step page
# hides the second part of each node until its step (``parts()[0]`` counts the first): every
# label line is one SVG text element (NOTE [one span per line]).


def _code_line(attrs: dict[str, Any]) -> list[str]:
    code = attrs.get("code")
    return [_labels.font(_labels.esc(code, 60), _labels.MUTED)] if code else []


def root_parts(
    graph: Graph, n: object, attrs: dict[str, Any], values: bool, brief: bool = False
) -> tuple[list[str], list[str]]:
    name = node_name(attrs)
    known = [_bold_line(f"{name} (output)" if name else "output"), *_info_line(attrs)]
    if values:
        known += _labels.value_lines("value", attrs.get("value"), attrs.get("shape"), brief)
        known += _labels.value_lines("seed grad", (attrs.get("grad_in") or [None])[0], attrs.get("shape"), brief)
    return known, []


def op_parts(
    graph: Graph, n: object, attrs: dict[str, Any], values: bool, brief: bool = False
) -> tuple[list[str], list[str]]:
    op, name = attrs.get("op") or "?", node_name(attrs)
    known = [_bold_line(f"{name} = {op}" if name else op), *_info_line(attrs), *check_line(attrs), *_code_line(attrs)]
    later: list[str] = []
    if values:
        known += _labels.value_lines("value", attrs.get("value"), attrs.get("shape"), brief)
        if not brief:
            later += [_labels.font(_labels.esc(line, R.LINE_WIDTH), _labels.LOCAL) for line in R.node_lines(graph, n)]
        later += _in_sum(graph, n, attrs, brief)
        later += hook_lines(attrs, "tensor", "module", "node")
        later += _labels.value_lines("returned grad", attrs.get("returned_grad"), attrs.get("shape"), brief)
        later += _labels.value_lines("retained .grad", attrs.get("retained_grad"), attrs.get("shape"), brief)
    return known, later


def leaf_parts(
    graph: Graph, n: object, attrs: dict[str, Any], values: bool, brief: bool = False
) -> tuple[list[str], list[str]]:
    known = [_bold_line(node_name(attrs) or "leaf"), *_info_line(attrs)]
    if not values:
        return known, []
    known += shard_lines(attrs)
    key = "value (this rank's shard)" if isinstance(attrs.get("shard"), dict) else "value"
    known += _labels.value_lines(key, attrs.get("value"), attrs.get("shape"), brief)
    later = _in_sum(graph, n, attrs, brief)
    later += hook_lines(attrs, "tensor")
    inc = (attrs.get("grad_in") or [None])[0]
    if graph.graph.get("kind") == "grad" or attrs.get("returned_grad") is not None:
        later += _labels.value_lines("returned grad", attrs.get("returned_grad") or inc, attrs.get("shape"), brief)
        later.append(_labels.esc(f".grad untouched: {_numbers.inline(attrs.get('grad_before'))}"))
    elif attrs.get("step") is not None:
        post = _labels.hooks_of(attrs, "post_accumulate")  # .grad as accumulated, then changed by the hook
        after = post[0].get("before") if post else local_after(attrs)
        later += _labels.accumulation(attrs.get("grad_before"), inc, after, brief)
        later += hook_lines(attrs, "post_accumulate")
        later += reduce_lines(attrs)
    return known, later


def parts(
    graph: Graph, n: object, attrs: dict[str, Any], values: bool, brief: bool = False
) -> tuple[list[str], list[str]]:
    """A node's label lines: (known before its step, computed by it) (NOTE [lines known before a step])."""
    kind = attrs.get("kind", "op")
    make = root_parts if kind == "root" else leaf_parts if kind == "leaf" else op_parts
    return make(graph, n, attrs, values, brief)


def local_after(attrs: dict[str, Any]) -> dict[str, Any] | None:
    """A leaf's .grad as this rank accumulated it: before DDP's all-reduce wrote the reduced one,
    or FSDP's reduce-scatter its shard (NOTE [sharded parameters] in capture/shards.py)."""
    reduced, shard = attrs.get("reduced"), attrs.get("shard")
    if isinstance(shard, dict):
        accumulated: dict[str, Any] | None = shard.get("accumulated")
        return accumulated
    after: dict[str, Any] | None = reduced.get("local") if isinstance(reduced, dict) else attrs.get("grad_after")
    return after


def shard_text(shard: dict[str, Any]) -> str:
    """``shard 0 of 2 (dim 0), local 2×4 of 4×4``: the part of an FSDP2 parameter this rank holds."""
    where = f" (dim {shard.get('dim')})" if shard.get("dim") is not None else ""
    local, whole = _numbers.shape_text(shard.get("local_shape")), _numbers.shape_text(shard.get("global_shape"))
    return f"shard {shard.get('index')} of {shard.get('count')}{where}, local {local} of {whole}"


def shard_lines(attrs: dict[str, Any]) -> list[str]:
    shard = attrs.get("shard")
    if not isinstance(shard, dict):
        return []
    return [_labels.font(_labels.esc(shard_text(shard), 120), _labels.COLORS["ok"], bold=True)]


def reduce_lines(attrs: dict[str, Any]) -> list[str]:
    """``all-reduce across 2 ranks → [[3, 3, 3]]``: the .grad the script sees after backward()."""
    reduced, shard = attrs.get("reduced"), attrs.get("shard")
    if isinstance(shard, dict):
        text = (
            f"reduce-scatter across {shard.get('count')} ranks → .grad shard {shard.get('index')} "
            f"{_numbers.inline(attrs.get('grad_after'))}"
        )
    elif isinstance(reduced, dict):
        text = f"all-reduce across {reduced.get('world_size')} ranks → .grad {_numbers.inline(attrs.get('grad_after'))}"
    else:
        return []
    return [_labels.font(_labels.esc(text, 120), _labels.COLORS["ok"], bold=True)]


def group_label(attrs: dict[str, Any], values: bool) -> str:
    """A group of nodes (views.apply): title, info, its lines, then its [key, value] table aligned."""
    repeat = attrs.get("repeat") or 1
    info = (f"×{repeat} · " if repeat > 1 else "") + f"{attrs.get('members', 0)} nodes"
    rows = [_bold_line(attrs.get("title") or "group"), _labels.font(_labels.esc(info), _labels.MUTED, 10)]
    rows += [_labels.esc(line) for line in attrs.get("lines") or []]
    table = attrs.get("table") or []
    bars = attrs.get("bars") or []
    span = 3 if values and bars else 2
    cells = [f'<TR><TD ALIGN="LEFT" COLSPAN="{span}">{r}</TD></TR>' for r in rows]
    if values:
        drawn = _bars(bars) if len(bars) == len(table) else [""] * len(table)
        cells += [
            f'<TR><TD ALIGN="LEFT">{_labels.font(_labels.esc(k), _labels.MUTED)}</TD>'
            f'<TD ALIGN="LEFT">{_labels.esc(v)}</TD>{b}</TR>'
            for (k, v), b in zip(table, drawn)
        ]
    return f'<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="1">{"".join(cells)}</TABLE>>'


BAR = 80  # points: the longest bar of a fold's column (NOTE [fold bars] in views.py)
BAR_COLORS = (_labels.COLORS["ok"], _labels.LOCAL)  # gradient entering the block, its parameters' gradient


def _bars(rows: list[list[float | None]]) -> list[str]:
    """Per row, a cell of bars, one per column, each as long as its norm over the column's largest."""
    cols = [[v if isinstance(v, (int, float)) and math.isfinite(v) and v > 0 else 0.0 for v in r] for r in rows]
    tops = [max((r[k] for r in cols), default=0.0) for k in range(len(BAR_COLORS))]
    out = []
    for row in cols:
        bars = []
        for value, top, color in zip(row, tops, BAR_COLORS):
            ok = value > 0 and top > 0
            width = min(BAR - 1, max(1, round(BAR * value / top))) if ok else 1
            fill = f' BGCOLOR="{color}"' if ok else ""
            bars.append(
                f'<TR><TD WIDTH="{width}" HEIGHT="4" FIXEDSIZE="TRUE"{fill}></TD>'  # the bar, then
                f'<TD WIDTH="{BAR - width}" HEIGHT="4" FIXEDSIZE="TRUE"></TD></TR>'
            )  # the room it leaves
        out.append(f'<TD ALIGN="LEFT"><TABLE BORDER="0" CELLSPACING="1" CELLPADDING="0">{"".join(bars)}</TABLE></TD>')
    return out


def node_health(attrs: dict[str, Any]) -> str | None:
    """The worst health of the gradients that reached a node."""
    if attrs.get("kind") == "group":
        return attrs.get("health")
    return _numbers.worst([_numbers.health(r) for r in attrs.get("grad_in") or []])


def node_attrs(graph: Graph, n: object, attrs: dict[str, Any], values: bool, brief: bool = False) -> dict[str, str]:
    """Label, shape and style of a node: filled by kind, red/grey border by health, dashed if not run."""
    kind = attrs.get("kind", "op")
    if kind == "group":
        label = group_label(attrs, values)
    else:
        known, later = parts(graph, n, attrs, values, brief)
        lines = known + later
    health = node_health(attrs)
    style = ["filled", "rounded"]
    if kind != "group" and attrs.get("step") is None:
        style.append("dashed")
    out = {
        "label": label if kind == "group" else _labels.label(lines),
        "shape": "box3d" if kind == "group" else "box",
        "style": ",".join(style) if kind != "group" else "filled",
        "fillcolor": _labels.FILLS.get(kind, _labels.FILLS["op"]),
        "class": f"gt-{kind}" + (f" gt-{health}" if health in ("nan", "inf", "zero") else ""),
    }
    if health in ("nan", "inf", "zero"):
        out["color"] = _labels.COLORS[health]
        out["penwidth"] = "2" if health != "zero" else "1"
    if mismatched(attrs):  # a wrong backward outranks every other mark
        out["color"], out["penwidth"], out["class"] = MISMATCH, "3", out["class"] + " gt-mismatch"
    return out
