"""Parameter names and module paths are unique within a pass, and a parameter's name wins."""

from __future__ import annotations

import torch
from torch import nn

import graphtrace
from graphtrace.render import views


def _gan_passes():
    torch.manual_seed(0)
    G = nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 2))
    D = nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 1))
    z = torch.ones(4, 2)
    with graphtrace.trace() as t:
        for _ in range(2):
            D(G(z)).mean().backward()
            for p in G.parameters():  # p and param are left over for the second pass
                p.grad = None
            for param in D.parameters():
                param.grad = None
        D(z).mean().backward()  # D alone: its own names
    return t.passes


def test_two_models_with_the_same_layout_get_their_variable_as_prefix():
    first, second, alone = _gan_passes()
    for p in (first, second):
        leaves = [a for _, a in p.graph.nodes(data=True) if a["kind"] == "leaf"]
        assert sorted(a["param"] for a in leaves) == [
            "D.0.bias",
            "D.0.weight",
            "D.2.bias",
            "D.2.weight",
            "G.0.bias",
            "G.0.weight",
            "G.2.bias",
            "G.2.weight",
        ]
        assert all(a["name"] == "" for a in leaves)  # never the loop's leftover p or param
        ops = {a["module"] for _, a in p.graph.nodes(data=True) if a["module_class"]}
        assert ops == {"D.0", "D.1", "D.2", "G.0", "G.1", "G.2"}
        assert p.graph.graph["modules"]["G.1"] == "Tanh" and p.graph.graph["modules"]["D"] == "Sequential"
    assert sorted(a["param"] for _, a in alone.graph.nodes(data=True) if a["kind"] == "leaf") == [
        "0.bias",
        "0.weight",
        "2.bias",
        "2.weight",
    ]


def test_depth_one_keeps_the_two_models_apart():
    first = _gan_passes()[0]
    shown = views.apply(first.graph, depth=1)
    groups = sorted(a["title"] for _, a in shown.nodes(data=True) if a["kind"] == "group")
    assert groups == ["D (Sequential)", "G (Sequential)"]
