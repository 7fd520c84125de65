"""Graphviz HTML-like labels for nodes and edges, built from escaped text only."""

from __future__ import annotations

import re
from typing import Any

from . import _numbers as N

# NOTE [label escaping]: every piece of user or trace text reaches a label through esc().
# Graphviz parses HTML-like labels as XML (so & < > " ' become entities) and then expands
# \N, \G, \E, \T, \H, \L escapes in them, so a backslash is doubled; control characters
# are not allowed in XML and become visible \xNN text.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;", "\\": "\\\\"}
_SPECIAL = re.compile(r"[&<>\"'\\]")

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
        s = s[: limit // 2 - 1] + "…" + s[-(limit // 2) :]
    s = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", s)
    return _SPECIAL.sub(lambda m: _ENTITIES[m.group()], s)


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


def matrix_lines(rec: dict[str, Any]) -> list[str]:
    """A small tensor as numpy-style text lines with right-aligned columns: [[1, 2], / [3, -4.5]]."""
    cells = N.rows(rec)
    nested = len(rec.get("shape") or []) >= 2
    if not nested:  # a vector wraps every 8 values
        cells = [cells[0][i : i + 8] for i in range(0, len(cells[0]), 8)] or [[]]
    width = max((len(c) for r in cells for c in r), default=0)
    body = [", ".join(c.rjust(width) for c in r) for r in cells]
    first, mid, sep, end = ("[[", " [", "],", "]]") if nested else ("[", " ", ",", "]")
    last = len(body) - 1
    return [(first if i == 0 else mid) + line + (end if i == last else sep) for i, line in enumerate(body)]


def value_lines(key: str, rec: dict[str, Any] | None, shape: object = None, brief: bool = False) -> list[str]:
    """A record after its key: tiny ones inline, small ones as a matrix, big ones summarised
    (their shape left out when it is ``shape``, the node's own; only the norm if ``brief``)."""
    if rec is None:
        return []
    if N.shown(rec, N.INLINE_LIMIT) and len(rec.get("shape") or []) <= 1:
        return [esc(f"{key} {N.inline(rec)}")]
    if N.shown(rec):
        mono = [f'<FONT FACE="{MONO}">{esc(line).replace(" ", "&#160;")}</FONT>' for line in matrix_lines(rec)]
        return [esc(key), *mono]
    where = "" if rec.get("shape") == shape else N.shape_text(rec.get("shape")) + " "
    return [esc(f"{key} {where}{N.stats(rec, brief)}")]


def sum_text(parts: list[dict[str, Any] | None], total: dict[str, Any] | None) -> str:
    """Contributions and their sum: '2 + 2 = 4'."""
    return " + ".join(N.inline(p) for p in parts) + " = " + N.inline(total)


def accumulation(before: dict[str, Any] | None, inc: dict[str, Any] | None, after: dict[str, Any] | None) -> list[str]:
    """A leaf's .grad change: '.grad -2.6509 + -1.3254 = -3.9763', on three lines when long."""
    pieces = [N.inline(before), N.inline(inc), N.inline(after)]
    if sum(len(p) for p in pieces) <= 48:
        return [esc(f".grad {pieces[0]} + {pieces[1]} = {pieces[2]}")]
    return [esc(f".grad {word} {p}") for word, p in zip(("before", "+ increment", "= after"), pieces)]


HOOK = "#a0522d"  # gradients changed by the user's hooks
HOOK_TITLES = {"tensor": "hook", "module": "module hook", "post_accumulate": "post-accumulate hook"}


def hook_text(entry: dict[str, Any]) -> str:
    """A hook that changed a gradient, as one line: 'hook: [6, 12] → [60, 120]'."""
    title = HOOK_TITLES.get(entry.get("kind", ""), "hook")
    return f"{title}: {N.inline(entry.get('before'))} → {N.inline(entry.get('after'))}"


def hooks_of(attrs: dict[str, Any], *kinds: str) -> list[dict[str, Any]]:
    """The node's hook entries of the given kinds (see docs/trace-format.md, ``hooks``)."""
    return [h for h in attrs.get("hooks") or [] if h.get("kind") in kinds]


def edge_label(grad: dict[str, Any] | None, local: dict[str, Any] | None, parts: list[Any] | None, values: bool) -> str:
    """What flowed along an edge: the gradient (its slot parts summed) and the local factor."""
    if not values or grad is None:
        return ""
    text = esc(sum_text(parts, grad) if parts and len(parts) > 1 else N.inline(grad), 60)
    fac = N.factor(local)
    if fac:
        text += "<BR/>" + font(esc(fac, 40), LOCAL)
    return f"<{text}>"
