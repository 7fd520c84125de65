"""Backward rules in pictures and on the step page: derivatives.yaml text, saved values, numbers put in."""

from __future__ import annotations

import math

from graphtrace.render import _rules as R
from graphtrace.render import to_dot, to_html

from . import synthetic as S
from .test_html import page_data


def seed000():
    """Seed 000's chain with what capture records of each rule (formula, saved values, inputs, code)."""
    g = S.chain()
    g.nodes[1].update(
        formula={"self": "grad * self.cos().conj()"}, saved={"self": S.rec(347.0)}, code="z = torch.sin(y)"
    )
    g.nodes[2].update(
        formula={
            "other": "handle_r_to_c(other.scalar_type(), maybe_multiply(grad, alpha.conj()))",
            "self": "handle_r_to_c(self.scalar_type(), grad)",
        },
        saved={"alpha": {"shape": [], "dtype": "int", "numel": 1, "values": 1}},
        code="y = x**3 + 4",
    )
    g.nodes[3].update(
        formula={"self": "pow_backward(grad, self, exponent)"},
        saved={"exponent": {"shape": [], "dtype": "int", "numel": 1, "values": 3}, "self": S.rec(7.0)},
        code="y = x**3 + 4",
    )
    for u, v in ((1, 2), (2, 3), (3, 4)):
        g.edges[u, v]["inputs"] = ["self"]
    return g


def test_pretty_rule_text():
    assert R.pretty("grad * self.cos().conj()") == "grad × cos(self)"
    assert R.pretty("grad * self.cos().conj()", "complex64") == "grad × cos(self).conj()"
    assert R.pretty("grad * -self.sin().conj()") == "grad × -sin(self)"


def test_picture_shows_each_rule_with_its_numbers_and_the_code_line():
    dot = to_dot(seed000())
    assert "grad × cos(self) · self = 347 → ×0.14547" in dot
    assert "pow_backward(grad, self, exponent) · self = 7, exponent = 3 → ×147" in dot
    assert "handle_r_to_c(scalar_type(self), grad) → ×1" in dot  # the constant 4 got no gradient: no 'other'
    assert "z = torch.sin(y)" in dot
    assert "rule: PyTorch&#39;s backward formula" in dot and "rule:" not in to_dot(S.chain())


def test_step_page_puts_the_numbers_into_the_rule():
    steps = page_data(to_html(seed000()))["steps"]
    sin, pow_ = steps[1]["rule"], steps[3]["rule"]
    assert sin[0] == ["rule for self", "grad * self.cos().conj()"] and sin[1] == ["saved self", "347"]
    dz_dy = S.f32(math.cos(347.0))
    assert sin[2][0] == "with numbers" and sin[2][1].startswith("1 × cos(347) = 0.14547")
    assert pow_[-1][1].startswith("pow_backward(0.14547") and pow_[-1][1].endswith(", 7, 3) = 21.384121")
    assert abs(float(sin[2][1].split("= ")[1]) - dz_dy) < 1e-8


def test_tooltips_give_full_precision():
    dot = to_dot(seed000())
    assert 'tooltip="gradient: 21.384121' in dot and "21.384121" not in dot.split("tooltip")[0]
    assert "0.1049936" in to_dot(_sigmoid())


def _sigmoid():
    g = S._graph(steps=2)
    S._node(g, 0, "root", "output", value=S.rec(S.f32(1 / (1 + math.exp(-2)))), step=0, grad_in=[S.rec(1.0)])
    d = S.f32(0.1049936)  # sigmoid'(2) as torch computes it in float32: (1 - s) * s
    S._node(g, 1, "op", "SigmoidBackward0", step=1, grad_in=[S.rec(1.0)])
    S._node(g, 2, "leaf", "AccumulateGrad", name="x", value=S.rec(2.0), step=2, grad_in=[S.rec(d)], grad_after=S.rec(d))
    S._edge(g, 0, 1, S.rec(1.0))
    S._edge(g, 1, 2, S.rec(d), S.rec(d))
    return g


def test_custom_function_shows_where_its_backward_is():
    g = S.chain()
    g.nodes[1].update(op="DoubleBackward", backward_source="prog.py:12")
    assert "backward at prog.py:12" in to_dot(g)


def test_a_long_rule_line_gives_tensors_by_shape_rather_than_join_two_values():
    g = S.chain()
    mat = [[-1.3969, 0.71694], [-0.09498, 1.2962], [-0.8204, 0.5409]]
    g.nodes[3].update(
        formula={"self": "pow_backward(grad, self, exponent)"},
        saved={
            "exponent": {"shape": [], "dtype": "int", "numel": 1, "values": 2},
            "self": {**S.rec(0.0), "shape": [3, 2], "numel": 6, "values": mat},
        },
    )
    g.edges[3, 4]["inputs"] = ["self"]
    twice = [[2 * v for v in row] for row in mat]
    g.edges[3, 4]["local"] = {**S.rec(0.0), "shape": [3, 2], "numel": 6, "values": twice}
    (line,) = R.node_lines(g, 3)
    assert len(line) <= R.LINE_WIDTH
    assert line == "pow_backward(grad, self, exponent) · self = [3, 2], exponent = 2"  # the edge has the ×
    g.nodes[3]["saved"]["self"]["values"] = [[1.0, 1.0], [1.0, 1.0], [1.0, 1.0]]
    g.edges[3, 4]["local"]["values"] = [[2.0, 2.0], [2.0, 2.0], [2.0, 2.0]]
    (line,) = R.node_lines(g, 3)  # short enough: whole values and the factor
    assert line.endswith("self = [[1, 1], [1, 1], [1, 1]], exponent = 2 → ×2")
    assert "…" not in to_dot(g).split("pow_backward")[1].split("<BR")[0]  # never cut in the middle


def test_tooltip_shows_the_rules_with_numbers_as_the_step_page_does():
    g = seed000()
    for n in (1, 2, 3):
        assert R.with_numbers(g, n) == [text for key, text in R.panel_rows(g, n) if key == "with numbers"]
    assert R.with_numbers(g, 1)[0].startswith("1 × cos(347) = 0.14547")
    assert "with numbers: 1 × cos(347) = 0.14547" in to_dot(g)
