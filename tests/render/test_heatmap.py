"""The gradient heat map: rms per parameter and pass kept small and real, drawn with its ranges marked."""

from __future__ import annotations

import math
import re

import networkx as nx

from graphtrace.render import charts, heatmap
from graphtrace.render.heatmap import MAX_PASSES, MAX_ROWS, GradSeries, by_module, grad_heatmap, rms_of


def a_pass(index: int, grads: dict[str, float]) -> nx.DiGraph:
    """A pass whose parameter leaves got gradients of 4 elements with rms ``grads[name]``."""
    g = nx.DiGraph(index=index)
    for k, (name, rms) in enumerate(grads.items()):
        norm = rms * 2 if math.isfinite(rms) else str(rms)  # sqrt(4) = 2; non-finite as the JSON format has it
        g.add_node(k, kind="leaf", param=name, grad_in=[{"norm": norm, "numel": 4, "min": 0.0, "max": 1.0}])
    return g


def test_rms_is_norm_over_sqrt_numel_nan_and_inf_included():
    assert rms_of({"norm": 6.0, "numel": 4}) == 3.0
    assert math.isnan(rms_of({"norm": "nan", "numel": 4})) and rms_of({"norm": "inf", "numel": 9}) == math.inf
    assert rms_of({"norm": 1.0, "numel": 0}) is None and rms_of(None) is None


def test_each_pass_adds_one_rms_per_parameter_to_the_stats():
    stats = charts.GradStats()
    for i in range(1, 4):
        stats.add(a_pass(i, {"w": 0.5 * i, "b": 10.0**-i}))
    data = stats.series.to_data()
    assert data["passes"] == [1, 2, 3]
    assert data["rows"] == [["w", [0.5, 1.0, 1.5], 4], ["b", [0.1, 0.01, 0.001], 4]]  # name, rms per pass, numel


def test_long_loops_keep_real_passes_at_a_growing_stride():
    series = GradSeries()
    for number in range(1, 1001):
        column = series.column(number)
        if column is not None:
            series.add("w", column, float(number))  # the rms of pass n is n here
    data = series.to_data()
    assert len(data["passes"]) <= MAX_PASSES and data["passes"][:3] == [1, 5, 9] and series.stride == 4
    assert data["rows"][0][1] == [float(n) for n in data["passes"]]  # every column is the pass it names


def test_heat_map_marks_vanishing_exploding_and_nonfinite_cells():
    stats = charts.GradStats()
    for i, (w, b) in enumerate([(1e-2, 1e-9), (1e-1, 1e3), (1.0, math.nan)], 1):
        stats.add(a_pass(i, {"w": w, "b": b}))
    svg = grad_heatmap(stats.series.to_data())
    fills = dict(re.findall(r'<path fill="(#[0-9a-f]{6})" d="([^"]+)"', svg))
    for kind in ("vanishing", "exploding", "nonfinite"):
        assert fills[heatmap._SPECIAL[kind]].count("M") == 1  # one cell each: b in passes 1, 2, 3
    assert sum(d.count("M") for d in fills.values()) == 6
    assert "<text" in svg and ">1e-2<" in svg and ">1e0<" in svg  # the scale spans the normal cells
    assert "b: rms from 1e-09 to 1000 over 2 passes, NaN/Inf in 1" in svg
    assert grad_heatmap({"passes": [1], "rows": [["w", [1.0]]]}) is None  # one pass: nothing over time


def test_many_parameters_are_drawn_per_module_with_the_exact_rms_of_their_elements():
    rows = [[f"h.{i}.w{j}", [1.0 * (j + 1), None if i == 0 else 2.0], 4 * (j + 1)] for i in range(10) for j in range(5)]
    merged, depth = by_module(rows)
    assert depth == 2 and len(merged) == 10 <= MAX_ROWS < len(rows)
    name, values, numel = merged[1]
    assert name == "h.1 (5 tensors)" and numel == 60
    assert values[0] == math.sqrt(sum((j + 1) ** 2 * 4 * (j + 1) for j in range(5)) / 60)  # all elements' rms
    assert merged[0][1][1] is None and values[1] == 2.0  # h.0 missed pass 2: no number made up for it
    svg = grad_heatmap({"passes": [1, 2], "rows": rows})
    assert "rms gradient per module (depth 2)" in svg and "h.9 (5 tensors)" in svg
