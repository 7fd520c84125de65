"""Hooks that change gradients are recorded: the gradient before and after each, edges as they flowed."""

from __future__ import annotations

import torch
from torch import nn

import graphtrace


def vals(rec):
    return rec["values"]


def hooks_of(p):
    return {
        a["op"] if not a["name"] else a["name"]: [(h["kind"], vals(h["before"]), vals(h["after"])) for h in a["hooks"]]
        for _, a in p.graph.nodes(data=True)
        if a.get("hooks")
    }


def test_a_tensor_hook_is_recorded_between_the_edge_and_the_node():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    with graphtrace.trace() as t:
        y = x * 3
        y.register_hook(lambda g: g * 10)
        (y**2).sum().backward()
    (p,) = t.passes
    assert x.grad.tolist() == [180.0, 360.0]
    assert hooks_of(p) == {"y": [("tensor", [6.0, 12.0], [60.0, 120.0])]}
    y_node = p.node("y")
    assert vals(y_node["grad_in"][0]) == [60.0, 120.0]  # what MulBackward0 got and used
    (into,) = [e for _, v, e in p.graph.edges(data=True) if p.graph.nodes[v] is y_node]
    assert vals(into["grad"]) == [6.0, 12.0]  # what flowed along the edge
    assert vals(p.node("x")["grad_in"][0]) == [180.0, 360.0]
    z = torch.tensor([float("nan"), 1.0], requires_grad=True)
    with graphtrace.trace() as t:
        h = z * 2
        (h * h + h.sin() + h).sum().backward()  # no hook: no entry, NaN and accumulation alike
    assert hooks_of(t.passes[0]) == {}


def test_hooks_on_the_root_a_leaf_and_an_accumulation():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    with graphtrace.trace() as t:
        h = x * 2
        s = h * h + h  # two contributions meet at h: 2h + 1 = [5, 9]
        s.register_hook(lambda g: g + 1)  # seed [1, 1] -> [2, 2]
        h.register_hook(lambda g: -g)
        x.register_hook(lambda g: g / 4)
        s.backward(torch.ones(2))
    (p,) = t.passes
    assert x.grad.tolist() == [-5.0, -9.0]  # [2,2] * [5,9] -> -[10,18] -> *2 -> /4
    assert hooks_of(p) == {
        "s": [("tensor", [1.0, 1.0], [2.0, 2.0])],
        "h": [("tensor", [10.0, 18.0], [-10.0, -18.0])],
        "x": [("tensor", [-20.0, -36.0], [-5.0, -9.0])],
    }


def test_module_backward_hooks_and_pre_hooks():
    lin = nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[1.0, 2.0]]))
    lin.register_full_backward_pre_hook(lambda m, gout: (gout[0] * 10,))
    lin.register_full_backward_hook(lambda m, gin, gout: (gin[0] + 1,))
    x = torch.tensor([[3.0, 4.0]], requires_grad=True)
    with graphtrace.trace() as t:
        lin(x).sum().backward()
    assert x.grad.tolist() == [[11.0, 21.0]]
    entries = [
        (h["kind"], vals(h["before"]), vals(h["after"]))
        for _, a in t.passes[0].graph.nodes(data=True)
        for h in a.get("hooks", [])
    ]
    assert entries == [("module", [[1.0]], [[10.0]]), ("module", [[10.0, 20.0]], [[11.0, 21.0]])]


def test_a_post_accumulate_grad_hook_that_changes_grad():
    w = torch.tensor([1.0, 2.0], requires_grad=True)

    def halve(p):
        p.grad.mul_(0.5)

    w.register_post_accumulate_grad_hook(halve)
    with graphtrace.trace() as t:
        (w * 3).sum().backward()
    assert w.grad.tolist() == [1.5, 1.5]
    node = t.passes[0].node("w")
    assert vals(node["grad_after"]) == [1.5, 1.5]
    assert [(h["kind"], vals(h["before"]), vals(h["after"])) for h in node["hooks"]] == [
        ("post_accumulate", [3.0, 3.0], [1.5, 1.5])
    ]


def test_a_node_post_hook_that_replaces_what_leaves_is_a_step_and_no_local_is_taken_from_it():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    w = torch.tensor([3.0, -1.0], requires_grad=True)
    with graphtrace.trace() as t:
        a, b = x * 1.0, w * 1.0
        y = a * b
        y.grad_fn.register_hook(lambda gin, gout: (gin[0] + 100, gin[1]))  # only a's gradient replaced
        (y * 2).sum().backward()
    (p,) = t.passes
    assert x.grad.tolist() == [106.0, 98.0] and w.grad.tolist() == [2.0, 4.0]
    assert hooks_of(p) == {"y": [("node", [6.0, -2.0], [106.0, 98.0])]}  # 2 * w, then + 100
    g = p.graph
    (mul,) = [n for n, a in g.nodes(data=True) if a["name"] == "y"]
    to = {g.nodes[v]["name"]: a for _, v, a in g.out_edges(mul, data=True)}
    assert vals(to["a"]["grad"]) == [106.0, 98.0] and vals(to["b"]["grad"]) == [2.0, 4.0]
    assert to["b"]["local"] is None or vals(to["b"]["local"]) == [1.0, 2.0]
    assert to["a"]["local"] is None or vals(to["a"]["local"]) == [3.0, -1.0]  # the node's own, never 106/2


def test_a_node_post_hook_that_returns_nothing_is_no_step():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    seen = []
    with graphtrace.trace() as t:
        y = x.exp()
        y.grad_fn.register_hook(lambda gin, gout: seen.append(gin[0].clone()))
        y.sum().backward()
    (p,) = t.passes
    assert hooks_of(p) == {} and len(seen) == 1 and torch.equal(seen[0], x.grad)
