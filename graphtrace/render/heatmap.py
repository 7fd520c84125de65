"""The gradient over time: rms gradient per parameter and recorded pass as an inline SVG heat map."""

from __future__ import annotations

import math
from html import escape
from typing import Any

# NOTE [gradient heat map]: per pass, each parameter's rms gradient (norm / sqrt(numel), the
# gradient that pass gave it) is kept, one float per parameter and pass. Long loops keep at
# most MAX_PASSES columns: past that, every other recorded pass is dropped (and later passes
# are recorded at the doubled stride), so every column is one real pass, named on the axis,
# never an average. The map draws parameters (rows, in the order the backward reached them)
# against those passes (columns) in a log colour scale; rms below VANISHING and above
# EXPLODING are drawn in their own colours (and NaN/Inf in a third), so gradients that shrink
# or blow up during training stand out. A model with more than MAX_ROWS parameter tensors is
# drawn per module at the deepest module depth that gives at most MAX_ROWS rows: a module's
# rms is the exact rms of all its tensors' elements, sqrt(sum(rms_i^2 * numel_i) / sum(numel_i)),
# drawn only for passes that gave every one of them a gradient.
MAX_PASSES = 256
MAX_ROWS = 40
VANISHING = 1e-7
EXPLODING = 1e2
_VIRIDIS = ((68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37))
_LEVELS = 24  # colours of the scale (cells are drawn as one path per colour)
_SPECIAL = {"vanishing": "#d9d9d9", "exploding": "#d62728", "nonfinite": "#5c0a0a"}


class GradSeries:
    """rms gradient per parameter and recorded pass (NOTE [gradient heat map])."""

    def __init__(self) -> None:
        self.passes: list[int] = []  # pass numbers of the recorded columns
        self.rows: dict[str, dict[int, float]] = {}  # name -> column -> rms
        self.numel: dict[str, int] = {}  # name -> elements of its gradient
        self.stride = 1
        self.seen = 0  # passes offered

    def column(self, number: int) -> int | None:
        """The column for pass ``number``, or None when this pass is not recorded (stride)."""
        k, self.seen = self.seen, self.seen + 1
        if k % self.stride:
            return None
        if len(self.passes) == MAX_PASSES:  # keep every other column, then record at twice the stride
            self.passes = self.passes[::2]
            self.rows = {name: {c // 2: v for c, v in row.items() if c % 2 == 0} for name, row in self.rows.items()}
            self.stride *= 2
            if k % self.stride:
                return None
        self.passes.append(number)
        return len(self.passes) - 1

    def add(self, name: str, column: int, rms: float, numel: int = 1) -> None:
        self.rows.setdefault(name, {})[column] = rms
        self.numel[name] = numel

    def to_data(self) -> dict[str, Any]:
        """Plain data for run.json: pass numbers, and per parameter its rms per column (None: not in
        that pass) and its number of elements."""
        n = len(self.passes)
        return {
            "passes": list(self.passes),
            "rows": [
                [name, [row.get(c) for c in range(n)], self.numel.get(name, 1)] for name, row in self.rows.items()
            ],
        }


def by_module(rows: list[list[Any]], max_rows: int = MAX_ROWS) -> tuple[list[list[Any]], int | None]:
    """``rows`` as they are when few, else merged per module at the deepest depth that fits (and that depth)."""
    if len(rows) <= max_rows:
        return rows, None
    owners = [str(r[0]).split(".")[:-1] or [str(r[0])] for r in rows]  # a tensor's module: its name's head
    deepest = max(len(o) for o in owners)
    keys, depth = [".".join(o) for o in owners], deepest
    for depth in range(deepest, 0, -1):
        keys = [".".join(o[:depth]) for o in owners]
        if len(set(keys)) <= max_rows:
            break
    merged: dict[str, list[list[Any]]] = {}
    for key, row in zip(keys, rows):
        merged.setdefault(key, []).append(row)
    out = []
    for key, members in merged.items():
        size = [int(r[2]) if len(r) > 2 else 1 for r in members]
        values = []
        for c in range(len(members[0][1])):
            vals = [r[1][c] for r in members]
            values.append(
                None
                if any(v is None for v in vals)
                else math.sqrt(sum(v * v * n for v, n in zip(vals, size)) / sum(size))
            )
        out.append([key if len(members) == 1 else f"{key} ({len(members)} tensors)", values, sum(size)])
    return out, depth


def rms_of(record: Any) -> float | None:
    """norm / sqrt(numel) of a gradient record, NaN and Inf included (as JSON strings too)."""
    if not isinstance(record, dict) or not isinstance(record.get("numel"), int) or record["numel"] <= 0:
        return None
    norm = record.get("norm")
    try:
        value = float(norm) if isinstance(norm, (int, float, str)) and not isinstance(norm, bool) else None
    except ValueError:
        return None
    return None if value is None else value / math.sqrt(record["numel"])


def _colour(t: float) -> str:
    """Viridis at t in [0, 1], interpolated between five anchors."""
    t = min(1.0, max(0.0, t)) * (len(_VIRIDIS) - 1)
    i = min(int(t), len(_VIRIDIS) - 2)
    f = t - i
    a, b = _VIRIDIS[i], _VIRIDIS[i + 1]
    return "#" + "".join(f"{round(x + (y - x) * f):02x}" for x, y in zip(a, b))


def _kind(v: float) -> str:
    if not math.isfinite(v):
        return "nonfinite"
    if v < VANISHING:
        return "vanishing"
    return "exploding" if v > EXPLODING else ""


def grad_heatmap(series: dict[str, Any]) -> str | None:
    """The heat map of ``GradSeries.to_data()``; None when fewer than two passes were recorded."""
    passes, rows = series.get("passes") or [], series.get("rows") or []
    if len(passes) < 2 or not rows:
        return None
    rows, depth = by_module(rows)
    title = "rms gradient per " + (f"module (depth {depth})" if depth else "parameter") + " over the recorded passes"
    normal = [math.log10(v) for _, vals, *_ in rows for v in vals if isinstance(v, float) and not _kind(v) and v > 0]
    lo = math.floor(min(normal)) if normal else -3
    hi = max(math.ceil(max(normal)) if normal else 0, lo + 1)
    label_w = min(300, 12 + 7 * max(len(row[0]) for row in rows))
    cell_w = max(2.0, min(16.0, 640 / len(passes)))
    cell_h, top = 12, 62
    legend = [
        ("vanishing", f"vanishing: rms < {VANISHING:.0e}"),
        ("exploding", f"exploding: rms > {EXPLODING:.0e}"),
        ("nonfinite", "NaN/Inf"),
    ]
    legend_end = label_w + _LEVELS * 8 + 16 + sum(24 + 7 * len(text) for _, text in legend)
    width = int(max(label_w + cell_w * len(passes) + 20, legend_end))
    height = top + cell_h * len(rows) + 34
    paths: dict[str, list[str]] = {}
    for r, (_, vals, *_) in enumerate(rows):
        for c, v in enumerate(vals):
            if v is None:
                continue
            kind = _kind(v)
            if kind:
                colour = _SPECIAL[kind]
            else:
                colour = _colour(round((math.log10(v) - lo) / (hi - lo) * (_LEVELS - 1)) / (_LEVELS - 1))
            x, y = label_w + c * cell_w, top + r * cell_h
            paths.setdefault(colour, []).append(f"M{x:.1f} {y}h{cell_w:.1f}v{cell_h - 1}h{-cell_w:.1f}z")
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="Helvetica,Arial,sans-serif" font-size="11" '
        'role="img" aria-label="rms gradient per parameter and pass">',
        f'<text x="4" y="14" font-weight="bold">{title}</text>',
    ]
    bar_x = label_w
    for k in range(_LEVELS):  # the colour scale, 10^lo to 10^hi
        out.append(f'<rect x="{bar_x + k * 8}" y="24" width="8" height="10" fill="{_colour(k / (_LEVELS - 1))}"/>')
    out.append(
        f'<text x="{bar_x}" y="46">1e{lo}</text><text x="{bar_x + _LEVELS * 8}" y="46" text-anchor="end">1e{hi}</text>'
    )
    x = bar_x + _LEVELS * 8 + 16
    for kind, text in legend:
        out.append(
            f'<rect x="{x}" y="24" width="10" height="10" fill="{_SPECIAL[kind]}"/>'
            f'<text x="{x + 14}" y="33">{escape(text)}</text>'
        )
        x += 24 + 7 * len(text)
    for colour, segs in paths.items():
        out.append(f'<path fill="{colour}" d="{"".join(segs)}"/>')
    for r, (name, vals, *_) in enumerate(rows):
        shown = [v for v in vals if v is not None and math.isfinite(v)]
        tip = f"{name}: rms from {min(shown):.4g} to {max(shown):.4g} over {len(shown)} passes" if shown else name
        bad = sum(1 for v in vals if v is not None and not math.isfinite(v))
        tip += f", NaN/Inf in {bad}" if bad else ""
        out.append(
            f'<g><title>{escape(tip)}</title><text x="{label_w - 6}" y="{top + r * cell_h + 9}" '
            f'text-anchor="end">{escape(name)}</text></g>'
        )
    axis_y = top + cell_h * len(rows) + 14
    ticks = sorted({0, len(passes) - 1, *range(0, len(passes), max(1, len(passes) // 6))})
    for c in ticks:
        out.append(f'<text x="{label_w + (c + 0.5) * cell_w:.1f}" y="{axis_y}" text-anchor="middle">{passes[c]}</text>')
    out.append(f'<text x="{label_w}" y="{axis_y + 16}" fill="#555">pass →</text>')
    out.append("</svg>")
    return "".join(out)
