"""How a node's gradient check (``trace(check=True)``) is drawn: a red mark, and both Jacobians."""

from __future__ import annotations

from typing import Any

from . import _labels, _numbers

MISMATCH = "#d62728"  # a node whose backward disagrees with finite differences is drawn red


def check_of(attrs: dict[str, Any]) -> dict[str, Any] | None:
    check = attrs.get("check")
    return check if isinstance(check, dict) else None


def mismatched(attrs: dict[str, Any]) -> bool:
    check = check_of(attrs)
    return check is not None and check.get("status") == "mismatch"


def check_line(attrs: dict[str, Any]) -> list[str]:
    """The node's label line: only a mismatch is worth the room (ok and skipped are in the page)."""
    check = check_of(attrs)
    if check is None or check.get("status") != "mismatch":
        return []
    text = f"mismatch: backward ≠ finite differences (max error {_numbers.num(check.get('max_abs_error'))})"
    return [_labels.font(_labels.esc(text, 120), MISMATCH, bold=True)]


def check_rows(attrs: dict[str, Any]) -> list[list[str]]:
    """[key, text] rows of the step panel: the verdict, and for a mismatch both Jacobians side by side."""
    check = check_of(attrs)
    if check is None:
        return []
    status = str(check.get("status"))
    if status == "skipped":
        return [["check", f"skipped: {check.get('reason', '')}"]]
    verdict = (
        f"{status} · max error {_numbers.num(check.get('max_abs_error'))} "
        f"(relative {_numbers.num(check.get('max_rel_error'))}) · {check.get('dtype', '')} copies"
    )
    rows = [["check", verdict]]
    if status != "mismatch":
        return rows
    analytic, numeric, differs = check.get("analytic") or [], check.get("numeric") or [], check.get("differs") or []
    for k, (a, n) in enumerate(zip(analytic, numeric)):
        marked = {tuple(ij) for ij in (differs[k] if k < len(differs) else [])}
        key = "Jacobians" if len(analytic) == 1 else f"Jacobians, input {k}"
        rows.append([key, side_by_side(a, n, marked)])
    return rows


def side_by_side(analytic: list[list[float]], numeric: list[list[float]], marked: set[tuple[int, ...]]) -> str:
    """Two matrices next to each other, differing entries in ``*…*``: backward left, differences right."""

    def cells(m: list[list[float]]) -> list[list[str]]:
        return [
            [(f"*{_numbers.num(x)}*" if (i, j) in marked else _numbers.num(x)) for j, x in enumerate(row)]
            for i, row in enumerate(m)
        ]

    left, right = cells(analytic), cells(numeric)
    width = max((len(c) for row in left + right for c in row), default=1)
    rows = [
        (" ".join(c.rjust(width) for c in lrow), " ".join(c.rjust(width) for c in rrow))
        for lrow, rrow in zip(left, right)
    ]
    span = max([len("backward"), *(len(a) for a, _ in rows)])
    return "\n".join([f"{'backward'.ljust(span)} | finite differences", *(f"{a.ljust(span)} | {b}" for a, b in rows)])
