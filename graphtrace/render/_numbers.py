"""Plain-text formatting of numbers and value records (5 significant digits, summaries for big tensors)."""

from __future__ import annotations

import functools
import struct
from collections.abc import Callable, Sequence
from typing import Any

SIG = 5  # significant digits in pictures
SHOW_LIMIT = 64  # recorded tensors up to this many elements are drawn element by element
INLINE_LIMIT = 6  # ... and up to this many on one line (node facts, the panel's lists)
ROW = 10  # values per line when a vector wraps
SHORT_SUM = 48  # a sum of short vectors up to this many characters stays on one line
LINE = 72  # ... or fewer, so that a line of wide numbers stays within about this many characters

# NOTE [numbers that never mislead]: a picture rounds to 5 significant digits; the step page
# and tooltips give each number at its dtype's full precision: 8 significant digits for
# float32 (9 where 8 would read back as another float32: 21.384121, 0.1049936), the shortest
# round-trip text for float16 and float64. -0 prints as 0. A long vector is cut
# between elements ("… 54 more"), never inside a number. '+' and '=' join only numbers that
# add up element by element; summaries of big tensors (norms) are listed, never summed.


def num(x: Any) -> str:
    """One number: floats with 5 significant digits; 'nan'/'inf'/complex strings as they are."""
    if isinstance(x, bool):
        return str(x)
    if isinstance(x, float):
        return format(x + 0.0, f".{SIG}g")  # -0.0 + 0.0 is 0.0
    if x is None:
        return "?"
    return str(x)


_PACK = {"float32": ("f", 8), "complex64": ("f", 8), "bfloat16": ("f", 8), "float16": ("e", 1)}


def full(x: Any, dtype: str | None = "float32") -> str:
    """One number at its dtype's full precision (NOTE [numbers that never mislead])."""
    if not isinstance(x, float) or isinstance(x, bool):
        return num(x)
    return _full(x, dtype)


@functools.lru_cache(maxsize=4096)  # a tooltip repeats the numbers of its label and neighbours
def _full(x: float, dtype: str | None) -> str:
    x += 0.0
    code, start = _PACK.get(dtype or "", ("", 0))
    if not code:
        return repr(x)
    try:
        target = struct.pack(code, x)
    except (OverflowError, struct.error):
        return repr(x)
    for digits in range(start, 18):
        text = format(x, f".{digits}g")
        if struct.pack(code, float(text)) == target:
            return text
    return repr(x)


def shape_text(shape: Any) -> str:
    """``[2, 3]``; ``scalar`` for a 0-d tensor; ``?`` when the shape is unknown."""
    if not isinstance(shape, (list, tuple)):
        return "?"
    return "[" + ", ".join(map(str, shape)) + "]" if shape else "scalar"


def _nested(values: Any, fmt: Callable[[Any], str] = num) -> str:
    if isinstance(values, list):
        return "[" + ", ".join(_nested(v, fmt) for v in values) + "]"
    return fmt(values)


def formatter(rec: dict[str, Any] | None, precise: bool) -> Callable[[Any], str]:
    """``num`` for pictures, or ``full`` at the record's dtype for the step page and tooltips."""
    if not precise:
        return num
    dtype = (rec or {}).get("dtype")
    return lambda x: full(x, dtype)


def shown(rec: dict[str, Any] | None, limit: int = SHOW_LIMIT) -> bool:
    """Whether a record's values are drawn in full (small, known, at most 2-D)."""
    if not rec or rec.get("values") is None:
        return False
    return rec.get("numel", limit + 1) <= limit and len(rec.get("shape") or []) <= 2


def rows(rec: dict[str, Any]) -> list[list[str]]:
    """A shown record as a matrix of formatted cells (a scalar is 1x1, a vector one row)."""
    values = rec["values"]
    if not isinstance(values, list):
        return [[num(values)]]
    if values and isinstance(values[0], list):
        return [[num(v) for v in row] for row in values]
    return [[num(v) for v in values]]


def stats(rec: dict[str, Any], brief: bool = False) -> str:
    """One-line summary of a record: norm, min, max, mean (norm only if ``brief``), nan/inf counts."""
    keys = ("norm",) if brief else ("norm", "min", "max", "mean")
    parts = [f"{key} {num(rec.get(key))}" for key in keys if key in rec]
    for key in ("nan", "inf"):
        if rec.get(key):
            parts.append(f"{rec[key]} {key}")
    return " · ".join(parts)


def inline(rec: dict[str, Any] | None, precise: bool = False) -> str:
    """A record on one short line: its values when tiny, else its shape and norm."""
    if rec is None:
        return "None"
    fmt = formatter(rec, precise)
    if shown(rec, INLINE_LIMIT):
        return _nested(rec["values"], fmt)
    text = f"{shape_text(rec.get('shape'))} norm {fmt(rec.get('norm'))}"
    bad = [f"{rec[k]} {k}" for k in ("nan", "inf") if rec.get(k)]
    return text + (" (" + ", ".join(bad) + ")" if bad else "")


def elements(rec: dict[str, Any], limit: int = SHOW_LIMIT, precise: bool = False) -> list[str]:
    """A recorded tensor element by element: a scalar, a vector wrapped ROW to a line with
    aligned columns, a small matrix row by row; past ``limit`` elements cut between elements
    with '… N more' (NOTE [numbers that never mislead]). [] when the values are not recorded."""
    return _blocks([("", rec)], limit, precise)


def _cells(rec: dict[str, Any], fmt: Callable[[Any], str], limit: int) -> tuple[list[str], int, list[int] | None]:
    """(formatted elements, elements left out, row lengths if drawn as a matrix) of a record with values."""
    values, shape = rec["values"], rec.get("shape") or []
    if len(shape) == 2 and shape[0] <= ROW and shape[1] <= ROW and shape[0] * shape[1] <= limit:
        return [fmt(v) for row in values for v in row], 0, [len(row) for row in values]
    flat = _flat(values)
    return [fmt(v) for v in flat[:limit]], max(0, len(flat) - limit), None


def _blocks(items: list[tuple[str, dict[str, Any]]], limit: int, precise: bool) -> list[str]:
    """Records stacked with a shared column width, each block led by its mark ('', '+ ', '= '):
    a vector wraps after ROW elements, fewer when they are wide (LINE characters a line)."""
    if any(r is None or r.get("values") is None for _, r in items):
        return []
    if all(not (r.get("shape") or []) for _, r in items):  # scalars: one line
        return [" ".join(f"{mark}{formatter(r, precise)(r['values'])}" for mark, r in items).strip()]
    laid = [(mark, r, *_cells(r, formatter(r, precise), limit)) for mark, r in items]
    width = max((len(c) for _, _, cells, _, _ in laid for c in cells), default=0)
    per = max(3, min(ROW, LINE // (width + 2)))
    longest = max(len(cells) for _, _, cells, _, _ in laid)
    per = -(-longest // -(-longest // per)) if longest else per  # rows of even length: 10 as 5 + 5, not 8 + 2
    pad = max(len(mark) for mark, *_ in laid)
    lines = []
    for mark, r, cells, more, matrix in laid:
        sizes = matrix or [per] * (len(cells) // per) + ([len(cells) % per] if len(cells) % per or not cells else [])
        rows, at = [], 0
        for size in sizes:
            rows.append(cells[at : at + size])
            at += size
        if len(laid) == 1 and len(rows) == 1:  # one line: no columns to line up
            width = 0
        body = [", ".join(c.rjust(width) for c in row) for row in rows]
        first, mid, sep, end = ("[[", " [", "],", "]]") if matrix else ("[", " ", ",", "]")
        tail = f", … {more} more]" if more else end
        prefix = "" if matrix or len(r.get("shape") or []) == 1 else shape_text(r.get("shape")) + " "
        for i, text in enumerate(body):
            lead = (mark if i == 0 else "").ljust(pad) + (prefix if i == 0 else " " * len(prefix))
            close = tail if i == len(body) - 1 else sep
            lines.append(lead + (first if i == 0 else mid) + text + close)
    return lines


def sum_lines(
    parts: Sequence[dict[str, Any] | None], total: dict[str, Any] | None, precise: bool = False, limit: int = SHOW_LIMIT
) -> tuple[list[str], bool]:
    """(lines, whether they add up element by element) of contributions and their sum: '2 + 2 = 4',
    vectors stacked element by element; big ones listed by norm, never joined by '+' and '='
    (NOTE [numbers that never mislead])."""
    given = [p for p in parts if p is not None]
    marks: list[tuple[str, Any]] = [("  " if i == 0 else "+ ", p) for i, p in enumerate(given)] + [("= ", total)]
    if total is not None and all(p.get("shape") == total.get("shape") for p in given):
        short = [inline(r, precise) for _, r in marks if shown(r, INLINE_LIMIT) and len(r.get("shape") or []) <= 1]
        if len(short) == len(marks) and sum(len(t) for t in short) <= SHORT_SUM:  # '[1, 2] + [3, 4] = [4, 6]'
            return [" + ".join(short[:-1]) + " = " + short[-1]], True
        lines = _blocks(marks, limit, precise)
        if lines:
            return lines, True
    fmt = formatter(total, precise)
    norms = ", ".join(fmt(p.get("norm")) for p in given)
    return [
        f"{len(given)} contributions, norms {norms}",
        f"sum {inline(total, precise)}" if total is not None else "sum not recorded",
    ], False


def _flat(values: Any) -> list[Any]:
    if isinstance(values, list):
        return [x for v in values for x in _flat(v)]
    return [values]


def to_outputs(edge: dict[str, Any]) -> bool:
    """Whether an edge's slots go to different outputs of its target: its ``parts`` are never
    added (NOTE [slots to several outputs] in capture/recorder.py)."""
    return len(set(edge.get("input_nrs") or ())) > 1


def edge_grads(edge: dict[str, Any]) -> list[tuple[int, dict[str, Any]]]:
    """(output of the target, gradient) of what flowed along an edge: its gradient, or each of its
    parts where its slots go to several outputs; [] when nothing flowed."""
    if to_outputs(edge):
        return [(nr, p) for nr, p in zip(edge["input_nrs"], edge.get("parts") or ()) if p is not None]
    grad = edge.get("grad")
    return [] if grad is None else [(int(edge.get("input_nr") or 0), grad)]


def arriving(edges: list[dict[str, Any]]) -> dict[int, list[dict[str, Any]]]:
    """The gradients that reached each output of a node along its in-edges, by output."""
    out: dict[int, list[dict[str, Any]]] = {}
    for e in edges:
        for nr, grad in edge_grads(e):
            out.setdefault(nr, []).append(grad)
    return out


def edge_health(edge: dict[str, Any]) -> str | None:
    """``health`` of what flowed along an edge (the worst of its parts where they are not added)."""
    if to_outputs(edge):
        return worst([health(g) for _, g in edge_grads(edge)])
    return health(edge.get("grad"))


def bundled(edge: dict[str, Any]) -> int:
    """How many of the pass's edges a drawn edge stands for: a view's ``merged``, else 1."""
    k = edge.get("merged")
    return k if isinstance(k, int) and k > 1 else 1


def bundle_note(edge: dict[str, Any]) -> str:
    """'(largest of k edges)' for a drawn edge standing for k > 1 (NOTE [representative gradient]), else ''."""
    k = bundled(edge)
    return f"(largest of {k} edges)" if k > 1 else ""


def health(rec: dict[str, Any] | None) -> str | None:
    """'nan', 'inf', 'zero' (all-zero gradient) or 'ok'; None for no record."""
    if rec is None:
        return None
    nan, inf, norm = rec.get("nan"), rec.get("inf"), rec.get("norm")
    if nan or inf:
        return "nan" if nan else "inf"
    if nan is not None and inf is not None and norm is not None:  # a full record: its counts say it all
        return "zero" if norm == 0 else "ok"
    flat = _flat(rec["values"]) if rec.get("values") is not None else []
    if rec.get("nan") or "nan" in flat:
        return "nan"
    if rec.get("inf") or "inf" in flat or "-inf" in flat:
        return "inf"
    norm = rec.get("norm")
    if norm == 0 or (norm is None and flat and all(v == 0 for v in flat)):
        return "zero"
    return "ok"


def worst(healths: list[str | None]) -> str | None:
    """The most alarming of several healths (nan > inf > zero > ok)."""
    for h in ("nan", "inf", "zero", "ok"):
        if h in healths:
            return h
    return None


def like(rec: dict[str, Any] | None, other: dict[str, Any] | None) -> dict[str, Any] | None:
    """``rec`` in ``other``'s dtype where its own is unknown ('float': a local derivative made from a
    Jacobian's plain numbers), so that it prints at the precision the tensors had."""
    if rec is None or other is None or rec.get("dtype") != "float" or not other.get("dtype"):
        return rec
    return dict(rec, dtype=other["dtype"])


def factor(rec: dict[str, Any] | None, precise: bool = False) -> str:
    """A local derivative as a factor: '×147' when uniform, '×[a, b]' when tiny, '' otherwise."""
    if rec is None or rec.get("values") is None:
        return ""
    fmt = formatter(rec, precise)
    flat = _flat(rec["values"])
    if flat and all(v == flat[0] for v in flat):
        return "×" + fmt(flat[0])
    if shown(rec, INLINE_LIMIT):
        return "×" + _nested(rec["values"], fmt)
    return ""
