"""Small inline SVG charts for pass pages and the index (pure Python: no torch, no JS)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from html import escape
from typing import Any

from .._types import Graph
from .heatmap import GradSeries, rms_of

MIN_POINTS = 10  # a 1-D value needs this many elements to be drawn as a curve
_W, _H = 440, 220
_L, _R, _T, _B = 58, 12, 26, 34  # plot margins
_BLUE, _GREEN, _GREY = "#1f3b73", "#2e7d32", "#9a9a9a"


def _num(v: Any) -> float | None:
    """A finite float from a recorded value (JSON strings 'nan'/'inf' and complex give None)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    v = float(v)
    return v if math.isfinite(v) else None


def _fmt(v: float) -> str:
    """A tick or bound label: short, no trailing noise."""
    if v == 0:
        return "0"
    if abs(v) >= 1e4 or abs(v) < 1e-3:
        return f"{v:.0e}".replace("e+0", "e").replace("e-0", "e-")
    return f"{v:.4g}"


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About ``n`` round tick values covering [lo, hi]."""
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    return [round(first + k * step, 12) for k in range(int((hi - first) / step + 1e-9) + 1)]


def _span(vals: list[float]) -> tuple[float, float]:
    lo, hi = min(vals), max(vals)
    if lo == hi:
        pad = abs(lo) * 0.1 or 1.0
        return lo - pad, hi + pad
    pad = (hi - lo) * 0.05
    return lo - pad, hi + pad


def line_chart(xs: list[float], series: list[tuple[str, str, list[float]]], *, title: str, xlabel: str) -> str:
    """An SVG line chart of one or more series (label, colour, ys) over shared ``xs``."""
    order = sorted(range(len(xs)), key=lambda i: xs[i])
    x0, x1 = _span(xs)
    y0, y1 = _span([y for _, _, ys in series for y in ys])
    pw, ph = _W - _L - _R, _H - _T - _B

    def px(x: float) -> float:
        return _L + (x - x0) / (x1 - x0) * pw

    def py(y: float) -> float:
        return _T + ph - (y - y0) / (y1 - y0) * ph

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H}" '
        f'viewBox="0 0 {_W} {_H}" font-family="Helvetica,Arial,sans-serif" font-size="11" '
        f'role="img" aria-label="{escape(title)}">',
        f'<text x="{_L}" y="15" font-weight="bold">{escape(title)}</text>',
        f'<rect x="{_L}" y="{_T}" width="{pw}" height="{ph}" fill="none" stroke="#ccc"/>',
    ]
    for t in _ticks(x0, x1):
        out.append(
            f'<line x1="{px(t):.1f}" y1="{_T}" x2="{px(t):.1f}" y2="{_T + ph}" stroke="#eee"/>'
            f'<text x="{px(t):.1f}" y="{_T + ph + 14}" text-anchor="middle">{_fmt(t)}</text>'
        )
    for t in _ticks(y0, y1):
        out.append(
            f'<line x1="{_L}" y1="{py(t):.1f}" x2="{_L + pw}" y2="{py(t):.1f}" stroke="#eee"/>'
            f'<text x="{_L - 4}" y="{py(t) + 4:.1f}" text-anchor="end">{_fmt(t)}</text>'
        )
    if y0 < 0 < y1:
        out.append(f'<line x1="{_L}" y1="{py(0):.1f}" x2="{_L + pw}" y2="{py(0):.1f}" stroke="#999"/>')
    out.append(f'<text x="{_L + pw / 2:.1f}" y="{_H - 4}" text-anchor="middle" fill="#555">{escape(xlabel)}</text>')
    for k, (label, colour, ys) in enumerate(series):
        pts = " ".join(f"{px(xs[i]):.1f},{py(ys[i]):.1f}" for i in order)
        out.append(f'<polyline points="{pts}" fill="none" stroke="{colour}" stroke-width="1.8"/>')
        out.extend(f'<circle cx="{px(xs[i]):.1f}" cy="{py(ys[i]):.1f}" r="2.2" fill="{colour}"/>' for i in order)
        lx = _L + pw - 150
        out.append(
            f'<line x1="{lx}" y1="{_T + 12 + 14 * k}" x2="{lx + 16}" y2="{_T + 12 + 14 * k}" '
            f'stroke="{colour}" stroke-width="2"/><text x="{lx + 20}" y="{_T + 16 + 14 * k}">'
            f"{escape(label)}</text>"
        )
    out.append("</svg>")
    return "".join(out)


def _vector(record: Any) -> list[float] | None:
    """The values of a 1-D record with at least MIN_POINTS finite elements, else None."""
    if not isinstance(record, dict):
        return None
    shape, values = record.get("shape"), record.get("values")
    if not (isinstance(shape, list) and len(shape) == 1 and isinstance(values, list)):
        return None
    nums = [_num(v) for v in values]
    if len(nums) < MIN_POINTS or any(v is None for v in nums):
        return None
    return nums  # type: ignore[return-value]


def _gradient(attrs: dict[str, Any]) -> Any:
    """The gradient recorded for a node: what arrived (grad_in[0]), else what grad() returned."""
    grads = attrs.get("grad_in") or []
    if grads and grads[0] is not None:
        return grads[0]
    return attrs.get("returned_grad")


def _label(n: Any, attrs: dict[str, Any]) -> str:
    return attrs.get("name") or attrs.get("param") or f"{attrs.get('kind', 'node')} {n}"


def value_grad_chart(graph: Graph) -> str | None:
    """Charts of gradient against value for leaves and roots holding a 1-D value of >= 10 points.

    A leaf ``x`` is drawn with its gradient (df/dx) and, when a root ``f`` has a 1-D value of
    the same length, with ``f`` itself, so ``f`` and ``f'`` over a linspace appear side by
    side. Returns an HTML fragment, or None when no node qualifies.
    """
    roots = [(n, a, _vector(a.get("value"))) for n, a in graph.nodes(data=True) if a.get("kind") == "root"]
    charts, used = [], set()
    for n, attrs in graph.nodes(data=True):
        xs, gs = _vector(attrs.get("value")), _vector(_gradient(attrs))
        if attrs.get("kind") != "leaf" or xs is None or gs is None or len(xs) != len(gs):
            continue
        name = _label(n, attrs)
        outs = [(r, ys) for r, _, ys in roots if ys is not None and len(ys) == len(xs)]
        if outs:  # the output over the same points: f against x
            r, ys = outs[0]
            used.add(r)
            fname = _label(r, graph.nodes[r])
            charts.append(line_chart(xs, [(fname, _BLUE, ys)], title=f"{fname} against {name}", xlabel=name))
        charts.append(
            line_chart(
                xs, [(f"gradient at {name}", _GREEN, gs)], title=f"gradient at {name} against {name}", xlabel=name
            )
        )
    for r, attrs, xs in roots:
        gs = _vector(_gradient(attrs))
        if r in used or xs is None or gs is None or len(xs) != len(gs):
            continue
        name = _label(r, attrs)
        charts.append(
            line_chart(
                xs,
                [(f"seed gradient of {name}", _GREEN, gs)],
                title=f"seed gradient of {name} against its value",
                xlabel=name,
            )
        )
    if not charts:
        return None
    return (
        '<section class="graphtrace-charts" style="padding:4px 24px 24px;font-family:Helvetica,Arial,'
        'sans-serif"><h2 style="font-size:16px">Value against gradient</h2><p style="color:#666;'
        'font-size:13px">Each point is one element of a 1-D tensor: across, its value; up, its '
        "gradient in this pass, or the output computed from it.</p>"
        '<div style="display:flex;flex-wrap:wrap;gap:12px">' + "".join(charts) + "</div></section>"
    )


# -- gradient flow over a training loop ------------------------------------------------------


def grad_magnitudes(record: Any) -> tuple[float, float] | None:
    """(rms |grad|, max |grad|) of a gradient record: norm/sqrt(numel) and max(|min|, |max|)."""
    if not isinstance(record, dict):
        return None
    norm, numel = _num(record.get("norm")), record.get("numel")
    lo, hi = _num(record.get("min")), _num(record.get("max"))
    if norm is None or lo is None or hi is None or not isinstance(numel, int) or numel <= 0:
        return None
    return norm / math.sqrt(numel), max(abs(lo), abs(hi))


def _flow(record: Any) -> tuple[float | None, tuple[float, float] | None]:
    """``(rms_of(record), grad_magnitudes(record))``, the record read once: a record as capture
    gives it (float norm, min and max, int numel: every counted pass's) skips the checks a record
    read from JSON needs, with the very same arithmetic."""
    if type(record) is dict:
        norm, lo, hi, numel = record.get("norm"), record.get("min"), record.get("max"), record.get("numel")
        if type(norm) is float and type(lo) is float and type(hi) is float and type(numel) is int and numel > 0:
            rms = norm / math.sqrt(numel)
            finite = math.isfinite(norm) and math.isfinite(lo) and math.isfinite(hi)
            return rms, ((rms, max(abs(lo), abs(hi))) if finite else None)
    return rms_of(record), grad_magnitudes(record)


def leaf_grads(graph: Graph) -> list[tuple[str, bool, Any]]:
    """(parameter or variable name, is a parameter, its gradient record) of each named leaf, in node order."""
    return [
        (key, bool(attrs.get("param")), _gradient(attrs))
        for _, attrs in graph.nodes(data=True)
        if attrs.get("kind") == "leaf" and (key := attrs.get("param") or attrs.get("name"))
    ]


class GradStats:
    """Per-parameter gradient magnitudes accumulated over passes (leaves with a param or name)."""

    def __init__(self) -> None:
        # name -> [sum of rms / 2**shift, max |grad|, passes, shift]: the shift grows only when
        # the sum would overflow (gradients near the top of float64), so it is 0 otherwise
        self.rows: dict[str, list[float]] = {}
        self.params: set[str] = set()  # keys that are nn.Module parameters
        self.series = GradSeries()  # rms per pass, for the heat map (NOTE [gradient heat map])

    def add(self, graph: Graph) -> None:
        """Add a pass's graph: its leaves with a parameter or variable name."""
        self.add_grads(int(graph.graph.get("index") or 0), leaf_grads(graph))

    def add_grads(self, index: int, grads: Iterable[tuple[str, bool, Any]]) -> None:
        """Add pass ``index`` as (name, is a parameter, gradient record) of its named leaves
        (``leaf_grads``, or a counted pass's ``grads``)."""
        column = self.series.column(index)
        for key, param, grad in grads:
            rms, m = _flow(grad)
            if column is not None and rms is not None:
                self.series.add(key, column, rms, grad["numel"])
            if m is None:
                continue
            if param:
                self.params.add(key)
            row = self.rows.setdefault(key, [0.0, 0.0, 0, 0])
            total = row[0] + math.ldexp(m[0], -int(row[3]))
            while math.isinf(total):  # halving is exact here: these are huge numbers
                row[0], row[3] = row[0] / 2, row[3] + 1
                total = row[0] + math.ldexp(m[0], -int(row[3]))
            row[0] = total
            row[1] = max(row[1], m[1])
            row[2] += 1

    def table(self) -> list[tuple[str, float, float, int]]:
        """(name, mean over passes of rms |grad|, max |grad|, passes), in first-seen order."""
        return [(k, math.ldexp(s / n, int(shift)), mx, int(n)) for k, (s, mx, n, shift) in self.rows.items()]

    def is_training_loop(self, min_named: int = 20) -> bool:
        """Parameters seen in two passes or more, or a plain named leaf in ``min_named`` or more
        (a hand-written loop; a tutorial that reuses the name ``x`` a few times is not one)."""
        return any(n >= (2 if k in self.params else min_named) for k, _, _, n in self.table())


def grad_flow_chart(stats: Iterable[tuple[str, float, float, int]]) -> str:
    """A horizontal log-scale bar chart: mean rms |grad| (bar) and max |grad| (tick) per parameter."""
    rows = list(stats)
    positive = [v for _, mean, mx, _ in rows for v in (mean, mx) if 0 < v < math.inf]
    lo_exp = math.floor(math.log10(min(positive))) if positive else -3
    hi_exp = math.ceil(math.log10(max(positive))) if positive else 0
    hi_exp = max(hi_exp, lo_exp + 1)
    label_w = min(320, 12 + 7 * max((len(r[0]) for r in rows), default=4))
    width, row_h, top = label_w + 540, 18, 34
    plot_w = width - label_w - 180
    height = top + row_h * len(rows) + 30

    def at(exponent: float) -> float:
        return label_w + (exponent - lo_exp) / (hi_exp - lo_exp) * plot_w

    def px(v: float) -> float:
        if v <= 0:
            return label_w
        return at(math.log10(v)) if v < math.inf else label_w + plot_w

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="Helvetica,Arial,sans-serif" font-size="11" '
        f'role="img" aria-label="gradient flow">',
        '<text x="4" y="14" font-weight="bold">Gradient flow (log scale)</text>',
        f'<rect x="{label_w}" y="20" width="10" height="8" fill="{_BLUE}"/>'
        f'<text x="{label_w + 14}" y="28">mean over passes of rms |grad|</text>'
        f'<rect x="{label_w + 200}" y="20" width="3" height="10" fill="#d62728"/>'
        f'<text x="{label_w + 208}" y="28">max |grad|</text>',
    ]
    for e in range(lo_exp, hi_exp + 1):
        x = at(e)  # not px(10.0 ** e): 1e309 is past float64
        out.append(
            f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + row_h * len(rows)}" stroke="#eee"/>'
            f'<text x="{x:.1f}" y="{top + row_h * len(rows) + 14}" text-anchor="middle">1e{e}</text>'
        )
    for k, (name, mean, mx, n) in enumerate(rows):
        y = top + k * row_h
        tip = f"{name}: rms |grad| {mean:.4g} (mean over {n} passes), max |grad| {mx:.4g}"
        out.append(
            f"<g><title>{escape(tip)}</title>"
            f'<text x="{label_w - 6}" y="{y + 13}" text-anchor="end">{escape(name)}</text>'
            f'<rect x="{label_w}" y="{y + 4}" width="{px(mean) - label_w:.1f}" height="10" '
            f'fill="{_BLUE}"/>'
            f'<rect x="{px(mx) - 1.5:.1f}" y="{y + 2}" width="3" height="14" fill="#d62728"/>'
            f'<text x="{label_w + plot_w + 12}" y="{y + 13}" fill="#555">rms {mean:.3g} · max {mx:.3g}'
            f"</text></g>"
        )
    out.append("</svg>")
    return "".join(out)
