"""Graph structure parity with torchviz's make_dot on an MLP and a small CNN."""

from __future__ import annotations

import re
from collections import Counter

import pytest
import torch

import graphtrace

torchviz = pytest.importorskip("torchviz")


def _torchviz_structure(out: torch.Tensor, params: dict) -> tuple[Counter, int]:
    """Op-name counts and grad_fn-to-grad_fn edge count of torchviz's drawing."""
    dot = torchviz.make_dot(out, params=params)
    labels, edges = {}, []
    for line in dot.body:
        node = re.match(r"\s*(\d+) \[label=(\S+?)( fillcolor=\w+)?\]", line)
        if node:
            labels[node.group(1)] = node.group(2).strip('"')
        edge = re.match(r"\s*(\d+) -> (\d+)", line)
        if edge:
            edges.append(edge.groups())
    ops = Counter(v for v in labels.values() if v.endswith(("Backward0", "Backward1", "AccumulateGrad")))
    op_ids = {k for k, v in labels.items() if v in ops}
    return ops, sum(1 for a, b in edges if a in op_ids and b in op_ids)


def _ours(p) -> tuple[Counter, int]:
    g = p.graph
    ops = Counter(
        "AccumulateGrad" if a["kind"] == "leaf" else a["op"] for _, a in g.nodes(data=True) if a["kind"] != "root"
    )
    return ops, sum(1 for u, v in g.edges if g.nodes[u]["kind"] != "root")


@pytest.mark.parametrize("name", ["mlp", "cnn"])
def test_op_nodes_and_edges_match_torchviz(name):
    torch.manual_seed(0)
    if name == "mlp":
        model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 4))
        x = torch.randn(2, 8)
    else:
        model = torch.nn.Sequential(
            torch.nn.Conv2d(3, 4, 3),
            torch.nn.BatchNorm2d(4),
            torch.nn.ReLU(),
            torch.nn.MaxPool2d(2),
            torch.nn.Flatten(),
            torch.nn.Linear(4 * 3 * 3, 2),
        )
        x = torch.randn(1, 3, 8, 8)
    out = model(x).sum()
    theirs = _torchviz_structure(out, dict(model.named_parameters()))
    ours = _ours(graphtrace.snapshot(out))
    assert ours == theirs
    assert ours[0]["AccumulateGrad"] == len(list(model.parameters()))
