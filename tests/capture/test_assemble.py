"""The recorder's pass as plain data: its structure signature."""

from __future__ import annotations

import torch

import graphtrace
from graphtrace.capture.assemble import plain_hash, structure_hash_of


def test_the_signature_from_plain_data_hashes_what_the_graph_holds() -> None:
    """``plain_hash`` (no networkx views) gives the graph's own ``structure_hash_of`` for shared
    leaves, several roots, a node reached twice and a custom Function."""

    class Twice(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g * 2

    x = torch.tensor([1.0, 2.0], requires_grad=True)
    w = torch.tensor(3.0, requires_grad=True)
    with graphtrace.trace() as t:
        h = (x * w).sin()
        a, b = (h + h).sum(), (Twice.apply(h) * x).sum()
        torch.autograd.backward([a, b])
        (w.exp() * w).backward()
    assert len(t.passes) == 2
    for p in t.passes:
        g = p.graph
        assert g.graph["signature"] == structure_hash_of(g)
        nodes = {n: g.nodes[n] for n in g.nodes}
        edges = {(u, v): g.edges[u, v] for u, v in g.edges}
        assert plain_hash(nodes, edges) == structure_hash_of(g)
    assert t.passes[0].graph.graph["signature"] != t.passes[1].graph.graph["signature"]
