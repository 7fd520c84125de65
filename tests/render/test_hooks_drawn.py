"""Hooks that changed a gradient are drawn on their node and are steps of their own."""

from __future__ import annotations

import networkx as nx

from graphtrace.render import to_dot
from graphtrace.render._steps import steps

from .synthetic import _edge, _graph, _node, rec


def hooked() -> nx.DiGraph:
    """loss = (y**2).sum(), y = x * 3, x = [1, 2], and a hook multiplying y's gradient by 10;
    a post-accumulate hook then halves x.grad."""
    g = _graph(steps=4)
    _node(g, 0, "root", "output", name="loss", value=rec(45.0), step=0, grad_in=[rec(1.0)])
    _node(g, 1, "op", "PowBackward0", value=rec([9.0, 36.0]), step=1, grad_in=[rec(1.0)])
    _node(
        g,
        2,
        "op",
        "MulBackward0",
        name="y",
        value=rec([3.0, 6.0]),
        step=2,
        grad_in=[rec([60.0, 120.0])],
        hooks=[{"kind": "tensor", "output": 0, "before": rec([6.0, 12.0]), "after": rec([60.0, 120.0])}],
    )
    _node(
        g,
        3,
        "leaf",
        "AccumulateGrad",
        name="x",
        value=rec([1.0, 2.0]),
        step=3,
        grad_in=[rec([180.0, 360.0])],
        grad_after=rec([90.0, 180.0]),
        hooks=[{"kind": "post_accumulate", "output": 0, "before": rec([180.0, 360.0]), "after": rec([90.0, 180.0])}],
    )
    _edge(g, 0, 1, rec(1.0))
    _edge(g, 1, 2, rec([6.0, 12.0]))
    _edge(g, 2, 3, rec([180.0, 360.0]), local=rec([3.0, 3.0]))
    return g


def test_hooks_are_lines_of_their_nodes():
    dot = to_dot(hooked())
    y = next(line for line in dot.splitlines() if 'id="node-2"' in line)
    assert "hook: [6, 12] → [60, 120]" in y
    x = next(line for line in dot.splitlines() if 'id="node-3"' in line)
    assert ".grad None + [180, 360] = [180, 360]" in x  # the accumulation as it happened
    assert "post-accumulate hook: [180, 360] → [90, 180]" in x


def test_hooks_are_steps_of_their_own():
    rows = [(s["title"], s["grads"]) for s in steps(hooked())]
    assert [t for t, _ in rows] == [
        "loss (output)",
        "PowBackward0",
        "hook on y = MulBackward0",
        "y = MulBackward0",
        "x (leaf)",
        "post-accumulate hook on x (leaf)",
    ]
    assert rows[2][1] == [["before", "[6, 12]"], ["after the hook", "[60, 120]"]]
    assert rows[4][1][-1] == ["= .grad after", "[180, 360]"]


def test_a_node_hook_is_a_line_of_its_node_and_a_step_after_it():
    g = hooked()
    g.nodes[2]["hooks"] = [{"kind": "node", "output": 0, "before": rec([180.0, 360.0]), "after": rec([5.0, 7.0])}]
    g.edges[2, 3]["grad"] = rec([5.0, 7.0])  # what left, after the node's own post-hook
    y = next(line for line in to_dot(g).splitlines() if 'id="node-2"' in line)
    assert "node hook: [180, 360] → [5, 7]" in y
    titles = [s["title"] for s in steps(g)]
    assert titles[2:4] == ["y = MulBackward0", "node hook on y = MulBackward0"]
