"""Graphviz HTML-like labels for nodes and edges, built from escaped text only."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from .._types import Attrs, Graph
from . import _numbers

# NOTE [label escaping]: every piece of user or trace text reaches a label through esc().
# Graphviz parses HTML-like labels as XML (so & < > " ' become entities) and then expands
# \N, \G, \E, \T, \H, \L escapes in them, so a backslash is doubled; control characters
# are not allowed in XML and become visible \xNN text.
_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;", "\\": "\\\\"}
_ESCAPED = re.compile(r"[\x00-\x1f\x7f-\x9f&<>\"'\\]")  # controls and specials, found in one pass


def _escaped(m: re.Match[str]) -> str:
    r"""An entity, a doubled backslash, or a control character as ``\\xNN`` (its backslash doubled too)."""
    c = m.group()
    return _ENTITIES.get(c) or f"\\\\x{ord(c):02x}"


COLORS = {"nan": "#d62728", "inf": "#d62728", "zero": "#9a9a9a", "ok": "#1f3b73", None: "#9a9a9a"}
FILLS = {"root": "#fff2cc", "op": "#eef3fb", "leaf": "#e2f0d9", "group": "#f3e8fb"}
MUTED = "#6b6b6b"
MONO = "DejaVu Sans Mono,Liberation Mono,Menlo,Consolas,Courier New,monospace"  # NOTE [text fits its box]
LOCAL = "#2e7d32"  # local derivatives (×147) are green
MAX_TEXT = 80  # longer names and paths are shortened in the middle


def esc(text: object, limit: int = MAX_TEXT) -> str:
    """Text made safe for an HTML-like label (see NOTE [label escaping])."""
    s = str(text)
    if len(s) > limit:
        s = _shorten(s, limit)
    return _ESCAPED.sub(_escaped, s)


def _shorten(s: str, limit: int) -> str:
    """``s`` cut in the middle to about ``limit`` characters; in a list (``a, b, c``) the cut falls
    between items, so that no number is ever shown cut in two."""
    head, tail = s[: limit // 2 - 1], s[-(limit // 2) :]
    i, j = head.rfind(", "), tail.find(", ")
    if i > 0 and 0 <= j < len(tail) - 2:
        return f"{s[: i + 1]} … {tail[j + 2 :]}"
    return head + "…" + tail


def font(text: str, color: str | None = None, size: int | None = None, bold: bool = False) -> str:
    """Already-escaped ``text`` in a FONT (and B) element."""
    if bold:
        text = f"<B>{text}</B>"
    attrs = (f' COLOR="{color}"' if color else "") + (f' POINT-SIZE="{size}"' if size else "")
    return f"<FONT{attrs}>{text}</FONT>" if attrs else text


BR = '<BR ALIGN="LEFT"/>'

# NOTE [one span per line]: browsers draw dot's SVG text in their own fonts, whose widths
# differ from the ones dot measured; each text span is placed at dot's x, so a line made of
# several spans gets gaps or overlaps. Every label line is therefore a single span (one
# font, colour and weight), and colour changes happen only between lines or table cells.


def label(lines: list[str]) -> str:
    """Left-aligned lines as one HTML-like label (no tables: dot lays them out much faster)."""
    return "<" + BR.join(lines) + BR + ">"


def mono(lines: list[str]) -> list[str]:
    """Text lines in a monospace font, spaces kept, so that columns of numbers line up."""
    return [f'<FONT FACE="{MONO}">{esc(line, 400).replace(" ", "&#160;")}</FONT>' for line in lines]


def value_lines(key: str, rec: Attrs | None, shape: object = None, brief: bool = False) -> list[str]:
    """A record after its key: tiny ones inline, recorded ones element by element (cut between
    elements past _numbers.SHOW_LIMIT), big ones summarised (their shape left out when it is ``shape``,
    the node's own; only the norm if ``brief``)."""
    if rec is None:
        return []
    if _numbers.shown(rec, _numbers.INLINE_LIMIT) and len(rec.get("shape") or []) <= 1:
        return [esc(f"{key} {_numbers.inline(rec)}")]
    shown = [] if brief else _numbers.elements(rec)
    if shown:
        return [esc(key), *mono(shown)]
    where = "" if rec.get("shape") == shape else _numbers.shape_text(rec.get("shape")) + " "
    return [esc(f"{key} {where}{_numbers.stats(rec, brief)}")]


def sum_lines(key: str, parts: Sequence[Attrs | None], total: Attrs | None, brief: bool = False) -> list[str]:
    """Contributions and their sum after ``key``: 'grad in 2 + 2 = 4' on one line, vectors stacked
    element by element in monospace, big ones as norms (NOTE [numbers that never mislead])."""
    lines, adds_up = _numbers.sum_lines(parts, total, limit=_numbers.INLINE_LIMIT if brief else _numbers.SHOW_LIMIT)
    if not adds_up:
        return [esc(f"{key.rstrip(':')}: {lines[0]}", 400), esc(lines[1], 400)]
    if len(lines) == 1:
        return [esc(f"{key} {lines[0]}", 400)]
    return [esc(key), *mono(lines)]


def accumulation(before: Attrs | None, inc: Attrs | None, after: Attrs | None, brief: bool = False) -> list[str]:
    """A leaf's .grad change: '.grad -2.6509 + -1.3254 = -3.9763'; vectors element by element;
    big tensors listed by norm without '+' and '=' (NOTE [numbers that never mislead])."""
    if before is None and inc is not None and after is not None:
        short = [_numbers.inline(inc), _numbers.inline(after)]
        if (
            _numbers.shown(inc, _numbers.INLINE_LIMIT)
            and len(inc.get("shape") or []) <= 1
            and sum(map(len, short)) <= _numbers.SHORT_SUM
        ):
            return [esc(f".grad None + {short[0]} = {short[1]}")]
    if before is None:
        if after is not None and after.get("values") is not None and not brief:
            return [esc(".grad None + increment = after"), *mono(_numbers.elements(after))]
        return [esc(f".grad was None, now {_numbers.inline(after)}")]
    limit = _numbers.INLINE_LIMIT if brief else _numbers.SHOW_LIMIT
    lines, adds_up = _numbers.sum_lines([before, inc], after, limit=limit)
    if not adds_up:
        return [
            esc(f".grad before {_numbers.inline(before)}"),
            esc(f"increment {_numbers.inline(inc)}"),
            esc(f".grad after {_numbers.inline(after)}"),
        ]
    if len(lines) == 1:
        return [esc(f".grad {lines[0]}")]
    return [esc(".grad before + increment = after"), *mono(lines)]


HOOK = "#a0522d"  # gradients changed by the user's hooks
HOOK_TITLES = {
    "tensor": "hook",
    "module": "module hook",
    "node": "node hook",
    "post_accumulate": "post-accumulate hook",
}


def hook_text(entry: Attrs) -> str:
    """A hook that changed a gradient, as one line: 'hook: [6, 12] → [60, 120]'."""
    title = HOOK_TITLES.get(entry.get("kind", ""), "hook")
    return f"{title}: {_numbers.inline(entry.get('before'))} → {_numbers.inline(entry.get('after'))}"


def hooks_of(attrs: Attrs, *kinds: str) -> list[Attrs]:
    """The node's hook entries of the given kinds (see docs/trace-format.md, ``hooks``)."""
    return [h for h in attrs.get("hooks") or [] if h.get("kind") in kinds]


def edge_label(
    grad: Attrs | None,
    local: Attrs | None,
    parts: list[Any] | None,
    values: bool,
    brief: bool = False,
    note: str = "",
    outputs: list[int] | None = None,
) -> str:
    """What flowed along an edge: the gradient (its slot parts summed), ``note`` (a drawn edge's
    ``_numbers.bundle_note``) and the local factor; with ``outputs`` (the output of the target
    each slot goes to, when they differ) each part after its output, never added
    (NOTE [slots to several outputs] in capture/recorder.py)."""
    if values and outputs and parts:
        shown = [line for nr, p in zip(outputs, parts) for line in value_lines(f"to output {nr}:", p, None, brief)]
        return "<" + BR.join(shown) + BR + ">" if shown else ""
    if not values or grad is None:
        return ""
    limit = _numbers.INLINE_LIMIT if brief else _numbers.SHOW_LIMIT
    if parts and len(parts) > 1:
        lines = _numbers.sum_lines(parts, grad, limit=limit)[0]
    else:
        full = not brief or _numbers.shown(grad, _numbers.INLINE_LIMIT)
        lines = (_numbers.elements(grad, limit) if full else []) or [_numbers.inline(grad)]
    fac = _numbers.factor(local)
    tail = [font(esc(fac, 40), LOCAL)] if fac else []
    if note:
        tail.insert(0, esc(note))
    if len(lines) == 1:
        return "<" + "<BR/>".join([esc(lines[0], 400), *tail]) + ">"
    return "<" + BR.join(mono(lines) + tail) + BR + ">"  # columns of numbers: left-aligned


def pass_title(graph: Graph) -> str:
    """A pass's title: its index, rank (under torchrun), api, the function that called it, call site, kind."""
    g = graph.graph
    rank = f"rank {g['rank']} of {g.get('world_size')}" if "rank" in g else ""
    bits = [
        f"pass {g.get('index', '?')}",
        rank,
        g.get("api") or "",
        g.get("caller") or "",
        g.get("call_site") or "",
        g.get("kind") or "",
    ]
    return " · ".join(b for b in bits if b)
