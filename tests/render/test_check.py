"""graphtrace.render._check: a failed gradient check drawn red, both Jacobians side by side in the page."""

from __future__ import annotations

import networkx as nx

from graphtrace import Pass
from graphtrace.render import _check
from graphtrace.render._dot import to_dot_source
from graphtrace.render._steps import steps

# x**3 at x = [1, 2] whose backward says 2x**2: the analytic [[2, 0], [0, 8]] against 3x**2
MISMATCH = {
    "status": "mismatch",
    "max_abs_error": 4.0,
    "max_rel_error": 1 / 3,
    "reason": "differs",
    "dtype": "float64",
    "analytic": [[[2.0, 0.0], [0.0, 8.0]]],
    "numeric": [[[3.0, 0.0], [0.0, 12.0]]],
    "differs": [[[0, 0], [1, 1]]],
}


def _pass(check: dict) -> Pass:
    g = nx.DiGraph(index=1, kind="backward", api="Tensor.backward", call_site="x.py:3")
    g.add_node(0, kind="root", op="output", shape=[2], step=0, grad_in=[None])
    g.add_node(1, kind="op", op="CubeBackward", shape=[2], step=1, grad_in=[None], check=check)
    g.add_edge(0, 1, grad=None, local=None)
    return Pass(g)


def test_a_mismatch_is_drawn_red_with_the_word() -> None:
    dot = to_dot_source(_pass(MISMATCH).graph)
    line = next(x for x in dot.splitlines() if "CubeBackward" in x)
    assert f'color="{_check.MISMATCH}"' in line and 'penwidth="3"' in line and "gt-mismatch" in line
    assert "mismatch: backward ≠ finite differences (max error 4)" in line


def test_ok_and_skipped_checks_leave_the_node_as_it_was() -> None:
    for check in ({"status": "ok", "max_abs_error": 1e-12}, {"status": "skipped", "reason": "random op"}):
        line = next(x for x in to_dot_source(_pass(check).graph).splitlines() if "CubeBackward" in x)
        assert "mismatch" not in line and _check.MISMATCH not in line


def test_the_step_shows_both_jacobians_with_the_differing_entries_marked() -> None:
    step = next(s for s in steps(_pass(MISMATCH).graph) if s["title"] == "CubeBackward")
    facts = dict((k, v) for k, v in step["facts"])
    assert facts["check"].startswith("mismatch · max error 4")
    assert facts["Jacobians"].splitlines() == [
        "backward  | finite differences",
        " *2*    0 |  *3*    0",
        "   0  *8* |    0 *12*",
    ]
