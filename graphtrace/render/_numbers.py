"""Plain-text formatting of numbers and value records (5 significant digits, summaries for big tensors)."""

from __future__ import annotations

from typing import Any

SIG = 5  # significant digits everywhere
SHOW_LIMIT = 16  # tensors up to this many elements are drawn in full
INLINE_LIMIT = 6  # ... and up to this many on one line (edge labels, sums)


def num(x: Any) -> str:
    """One number: floats with 5 significant digits; 'nan'/'inf'/complex strings as they are."""
    if isinstance(x, bool):
        return str(x)
    if isinstance(x, float):
        return format(x, f".{SIG}g")
    if x is None:
        return "?"
    return str(x)


def shape_text(shape: Any) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]" if isinstance(shape, list) else "?"


def _nested(values: Any) -> str:
    if isinstance(values, list):
        return "[" + ", ".join(_nested(v) for v in values) + "]"
    return num(values)


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


def inline(rec: dict[str, Any] | None) -> str:
    """A record on one short line: its values when tiny, else its shape and norm."""
    if rec is None:
        return "None"
    if shown(rec, INLINE_LIMIT):
        return _nested(rec["values"])
    text = f"{shape_text(rec.get('shape'))} norm {num(rec.get('norm'))}"
    bad = [f"{rec[k]} {k}" for k in ("nan", "inf") if rec.get(k)]
    return text + (" (" + ", ".join(bad) + ")" if bad else "")


def _flat(values: Any) -> list[Any]:
    if isinstance(values, list):
        return [x for v in values for x in _flat(v)]
    return [values]


def health(rec: dict[str, Any] | None) -> str | None:
    """'nan', 'inf', 'zero' (all-zero gradient) or 'ok'; None for no record."""
    if rec is None:
        return None
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


def factor(rec: dict[str, Any] | None) -> str:
    """A local derivative as a factor: '×147' when uniform, '×[a, b]' when tiny, '' otherwise."""
    if rec is None or rec.get("values") is None:
        return ""
    flat = _flat(rec["values"])
    if flat and all(v == flat[0] for v in flat):
        return "×" + num(flat[0])
    if shown(rec, INLINE_LIMIT):
        return "×" + _nested(rec["values"])
    return ""
