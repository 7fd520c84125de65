"""graphtrace.render.charts and graphtrace.cli.index: inline SVG charts and the index page, from plain data."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

import networkx as nx
import pytest

from graphtrace.cli.index import Entry, PassGroup, index_html
from graphtrace.render import charts, heatmap

SVG = "{http://www.w3.org/2000/svg}"


def record(values: list[float]) -> dict:
    norm = math.sqrt(sum(v * v for v in values))
    return {
        "shape": [len(values)],
        "dtype": "float32",
        "numel": len(values),
        "values": values,
        "norm": norm,
        "min": min(values),
        "max": max(values),
        "mean": sum(values) / len(values),
        "nan": 0,
        "inf": 0,
    }


def linspace_pass(n: int = 10, root_values: bool = True) -> nx.DiGraph:
    xs = [-10 + 20 * k / (n - 1) for k in range(n)]
    g = nx.DiGraph(roots=[0], index=1)
    g.add_node(
        0,
        kind="root",
        name="y",
        param="",
        value=record([x * x for x in xs]) if root_values else None,
        grad_in=[record([1.0] * n)],
    )
    g.add_node(1, kind="op", name="", param="", value=record([x * x for x in xs]), grad_in=[record([1.0] * n)])
    g.add_node(2, kind="leaf", name="x", param="", value=record(xs), grad_in=[record([2 * x for x in xs])])
    g.add_edges_from([(0, 1), (1, 2)])
    return g


def svgs(fragment: str) -> list[ET.Element]:
    """Every <svg> of an HTML fragment, each parsed as XML (so each is well formed)."""
    out, start = [], 0
    while (i := fragment.find("<svg", start)) >= 0:
        j = fragment.index("</svg>", i) + len("</svg>")
        out.append(ET.fromstring(fragment[i:j]))
        start = j
    return out


def test_value_grad_chart_draws_f_and_its_gradient_against_x() -> None:
    fragment = charts.value_grad_chart(linspace_pass())
    assert fragment is not None
    drawn = svgs(fragment)
    titles = [s.get("aria-label") for s in drawn]
    assert titles == ["y against x", "gradient at x against x"]  # the root is used as f, not charted alone
    line = drawn[1].find(f"{SVG}polyline")
    points = [tuple(map(float, p.split(","))) for p in line.get("points").split()]
    assert len(points) == 10
    # a straight line (2x): equal steps across give equal steps up
    dys = {round(points[k + 1][1] - points[k][1], 1) for k in range(9)}
    assert len(dys) <= 2


def test_value_grad_chart_skips_short_or_summarised_tensors() -> None:
    assert charts.value_grad_chart(linspace_pass(n=9)) is None
    g = linspace_pass()
    g.nodes[2]["grad_in"] = [dict(record([1.0] * 10), values=None)]  # summarised: no values
    assert "gradient at x" not in (charts.value_grad_chart(g) or "")
    g.nodes[2]["grad_in"] = [record([1.0] * 9 + [0.5])]
    g.nodes[2]["grad_in"][0]["values"][3] = "nan"  # non-finite points: no curve rather than a wrong one
    assert "gradient at x" not in (charts.value_grad_chart(g) or "")


def test_a_root_with_a_vector_seed_is_charted_when_no_leaf_uses_it() -> None:
    g = linspace_pass()
    g.nodes[2]["value"] = None
    assert [s.get("aria-label") for s in svgs(charts.value_grad_chart(g))] == ["seed gradient of y against its value"]


def test_grad_stats_mean_rms_and_max_abs() -> None:
    stats = charts.GradStats()
    for k in range(3):
        g = nx.DiGraph()
        g.add_node(0, kind="leaf", name="", param="fc.weight", grad_in=[record([3.0 * (k + 1), -4.0 * (k + 1)])])
        g.add_node(1, kind="leaf", name="x", param="", grad_in=[None])
        g.add_node(2, kind="op", name="h", param="", grad_in=[record([1.0, 1.0])])
        stats.add(g)
    ((name, rms, mx, n),) = stats.table()
    assert name == "fc.weight" and n == 3 and mx == 12.0
    assert rms == pytest.approx((5 / math.sqrt(2)) * (1 + 2 + 3) / 3)
    assert stats.is_training_loop()
    assert charts.grad_magnitudes({"norm": "nan", "min": 0, "max": 1, "numel": 2}) is None


def test_a_record_as_capture_gives_it_is_read_once_with_the_arithmetic_of_any_record() -> None:
    records = [
        {"norm": 5.0, "min": -4.0, "max": 3.0, "numel": 2},
        {"norm": 0.1, "min": 0.0, "max": 0.1, "numel": 1},
        {"norm": 1e300, "min": -1e300, "max": 1e-300, "numel": 7},
        {"norm": math.inf, "min": 1.0, "max": math.inf, "numel": 3},  # not finite: in the series only
        {"norm": math.nan, "min": 1.0, "max": 2.0, "numel": 3},
        {"norm": 2.0, "min": -math.inf, "max": 2.0, "numel": 3},
        {"norm": 2.0, "min": 1.0, "max": 2.0, "numel": 0},
        {"norm": "inf", "min": 1.0, "max": 2.0, "numel": 3},  # as read back from JSON
        {"norm": 3, "min": -1, "max": 2, "numel": 4},  # ints
        {"norm": True, "min": 0.0, "max": 1.0, "numel": 1},
        {"norm": None, "min": None, "max": None, "numel": 0},
        {"norm": 2.0, "min": 1.0, "max": 2.0, "numel": 3.0},
        {"min": 1.0},
        None,
        [1.0],
    ]
    for rec in records:
        got = charts._flow(rec)
        want = (heatmap.rms_of(rec), charts.grad_magnitudes(rec))
        assert repr(got) == repr(want), rec  # nan included
    assert charts._flow(records[0]) == (5.0 / math.sqrt(2), (5.0 / math.sqrt(2), 4.0))


def test_a_name_reused_a_few_times_is_not_a_training_loop() -> None:
    stats = charts.GradStats()
    for _ in range(6):
        g = nx.DiGraph()
        g.add_node(0, kind="leaf", name="x", param="", grad_in=[record([1.0])])
        stats.add(g)
    assert not stats.is_training_loop()


def test_grad_flow_chart_is_well_formed_and_log_scaled() -> None:
    chart = charts.grad_flow_chart([("a<b>", 0.01, 0.5, 10), ("zero", 0.0, 0.0, 10), ("big", 3.0, 40.0, 10)])
    root = ET.fromstring(chart)
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "a<b>" in texts  # escaped in the source, read back as the name
    assert {"1e-2", "1e0", "1e2"} <= set(texts)


def test_index_lists_passes_groups_and_notes() -> None:
    e1 = Entry(
        1,
        1,
        "backward",
        "Tensor.backward",
        "train.py:9",
        "",
        11,
        "scalar",
        6,
        "",
        "abc",
        {"json": "pass-001.json", "svg": "pass-001.svg", "html": "pass-001.html"},
    )
    e2 = Entry(
        21,
        21,
        "grad",
        "torch.autograd.grad",
        "t.py:3",
        "torch.autograd.functional.jacobian",
        4,
        "[3]",
        3,
        "RuntimeError: <bad>",
        "abc",
        {"json": "pass-021.json"},
    )
    page = index_html(
        {
            "title": "train.py",
            "command": "graphtrace run train.py",
            "passes": [e2, e1],
            "groups": [PassGroup("abcdef0123456789", "train.py:9", 21, 300, 280, [21, 300])],
            "total": 300,
            "counted_only": 0,
            "always": 20,
            "notes": ["The script stopped with exit code 3"],
            "grad_stats": None,
        }
    )
    assert page.index('id="pass-1"') < page.index('id="pass-21"')  # sorted by pass
    assert '<a href="pass-001.html"><img class="preview" src="pass-001.svg"' in page
    assert "no picture" in page and "RuntimeError: &lt;bad&gt;" in page and "via torch.autograd.functional" in page
    assert "<td>21&ndash;300</td>" in page and '<a href="#pass-300">300</a>' in page
    assert "exit code 3" in page and "Gradient flow" not in page


def test_gradient_flow_of_gradients_near_the_top_of_float64() -> None:
    stats = charts.GradStats()
    for _ in range(3):  # the sum of the rms over passes is past float64; their mean is not
        g = nx.DiGraph()
        g.add_node(0, kind="leaf", param="w", name="", grad_in=[dict(record([1.0]), norm=1.5e308, max=1.5e308)])
        stats.add(g)
    ((name, rms, mx, n),) = stats.table()
    assert (name, rms, mx, n) == ("w", 1.5e308, 1.5e308, 3)
    chart = charts.grad_flow_chart([*stats.table(), ("huge", math.inf, 1.7e308, 1)])
    assert ET.fromstring(chart).get("aria-label") == "gradient flow" and ">1e309<" in chart
