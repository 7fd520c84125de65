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
# or blow up during training stand out.
MAX_PASSES = 256
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

    def add(self, name: str, column: int, rms: float) -> None:
        self.rows.setdefault(name, {})[column] = rms

    def to_data(self) -> dict[str, Any]:
        """Plain data for run.json: pass numbers, and per parameter its rms per column (None: not in that pass)."""
        n = len(self.passes)
        return {"passes": list(self.passes),
                "rows": [[name, [row.get(c) for c in range(n)]] for name, row in self.rows.items()]}


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
    normal = [math.log10(v) for _, vals in rows for v in vals if isinstance(v, float) and not _kind(v) and v > 0]
    lo = math.floor(min(normal)) if normal else -3
    hi = max(math.ceil(max(normal)) if normal else 0, lo + 1)
    label_w = min(300, 12 + 7 * max(len(name) for name, _ in rows))
    cell_w = max(2.0, min(16.0, 640 / len(passes)))
    cell_h, top = 12, 62
    width = int(label_w + cell_w * len(passes) + 20)
    height = top + cell_h * len(rows) + 34
    paths: dict[str, list[str]] = {}
    for r, (_, vals) in enumerate(rows):
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
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="Helvetica,Arial,sans-serif" font-size="11" '
           'role="img" aria-label="rms gradient per parameter and pass">',
           '<text x="4" y="14" font-weight="bold">rms gradient per parameter over the recorded passes</text>']
    bar_x = label_w
    for k in range(_LEVELS):  # the colour scale, 10^lo to 10^hi
        out.append(f'<rect x="{bar_x + k * 8}" y="24" width="8" height="10" fill="{_colour(k / (_LEVELS - 1))}"/>')
    out.append(f'<text x="{bar_x}" y="46">1e{lo}</text>'
               f'<text x="{bar_x + _LEVELS * 8}" y="46" text-anchor="end">1e{hi}</text>')
    x = bar_x + _LEVELS * 8 + 16
    for kind, text in (("vanishing", f"vanishing: rms < {VANISHING:.0e}"),
                       ("exploding", f"exploding: rms > {EXPLODING:.0e}"), ("nonfinite", "NaN/Inf")):
        out.append(f'<rect x="{x}" y="24" width="10" height="10" fill="{_SPECIAL[kind]}"/>'
                   f'<text x="{x + 14}" y="33">{escape(text)}</text>')
        x += 24 + 7 * len(text)
    for colour, segs in paths.items():
        out.append(f'<path fill="{colour}" d="{"".join(segs)}"/>')
    for r, (name, vals) in enumerate(rows):
        shown = [v for v in vals if v is not None and math.isfinite(v)]
        tip = f"{name}: rms from {min(shown):.4g} to {max(shown):.4g} over {len(shown)} passes" if shown else name
        bad = sum(1 for v in vals if v is not None and not math.isfinite(v))
        tip += f", NaN/Inf in {bad}" if bad else ""
        out.append(f'<g><title>{escape(tip)}</title><text x="{label_w - 6}" y="{top + r * cell_h + 9}" '
                   f'text-anchor="end">{escape(name)}</text></g>')
    axis_y = top + cell_h * len(rows) + 14
    ticks = sorted({0, len(passes) - 1, *range(0, len(passes), max(1, len(passes) // 6))})
    for c in ticks:
        out.append(f'<text x="{label_w + (c + 0.5) * cell_w:.1f}" y="{axis_y}" text-anchor="middle">'
                   f"{passes[c]}</text>")
    out.append(f'<text x="{label_w}" y="{axis_y + 16}" fill="#555">pass →</text>')
    out.append("</svg>")
    return "".join(out)
