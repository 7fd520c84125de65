"""A backward call inside a node's backward (reentrant checkpoint) is recorded into the outer pass."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

import graphtrace


def test_reentrant_checkpoint_keeps_the_regions_nodes_and_parameters():
    block = nn.Sequential(nn.Linear(2, 2), nn.Tanh(), nn.Linear(2, 2))
    with torch.no_grad():
        for p in block.parameters():
            p.fill_(0.5)
    x = torch.ones(1, 2, requires_grad=True)
    with graphtrace.trace() as t:
        out = checkpoint(block, x, use_reentrant=True)
        out.pow(2).sum().backward()
    (p,) = t.passes
    g = p.graph
    ck = next(n for n, a in g.nodes(data=True) if a["op"] == "CheckpointFunctionBackward")
    inner = {n: a for n, a in g.nodes(data=True) if a.get("nested_in") == ck}
    params = {a["param"]: a for a in inner.values() if a["param"]}
    assert sorted(params) == ["0.bias", "0.weight", "2.bias", "2.weight"]
    for name, prm in block.named_parameters():
        assert params[name]["grad_after"]["values"] == prm.grad.tolist()  # exact records
        assert params[name]["step"] > g.nodes[ck]["step"]
    (root,) = [n for n, a in inner.items() if a["kind"] == "root"]
    assert g.edges[ck, root]["nested"] is True
    assert g.edges[ck, root]["grad"]["values"] == g.nodes[ck]["grad_in"][0]["values"]  # 2 * out
    assert {inner[n]["module"] for n in inner if inner[n]["op"] == "AddmmBackward0"} == {"0", "2"}
    steps = sorted(a["step"] for _, a in g.nodes(data=True) if a["kind"] != "root")
    assert steps == list(range(1, g.graph["steps"] + 1))  # one counter across both calls
    assert p.node("x")["grad_after"]["values"] == x.grad.tolist()


def test_a_failing_backward_leaves_no_mode_behind():
    class Boom(torch.autograd.Function):
        @staticmethod
        def forward(ctx, a):
            return a * 2

        @staticmethod
        def backward(ctx, grad):
            raise ValueError("boom")

    x = torch.ones(2, requires_grad=True)
    with graphtrace.trace() as t:
        with pytest.raises(ValueError, match="boom"):
            Boom.apply(x).sum().backward()
        checkpoint(lambda a: (a * 3).sin(), x, use_reentrant=True).sum().backward()
    assert torch._C._len_torch_function_stack() == 0
    assert len(t.passes) == 2 and t.passes[0].graph.graph["error"] == "ValueError: boom"
    assert any(a.get("nested_in") is not None for _, a in t.passes[1].graph.nodes(data=True))


class _Deeper(torch.autograd.Function):
    """Each backward runs a backward of its own, ``depth`` levels down (PyTorch's test_deep_reentrant)."""

    @staticmethod
    def forward(ctx, x):
        with torch.enable_grad():
            ctx.x = x.detach().requires_grad_() - 1
        return ctx.x.detach()

    @staticmethod
    def backward(ctx, g):
        if ctx.x < 0:
            return g
        with torch.enable_grad():
            _Deeper.apply(ctx.x).sum().backward()
        return g * 2


def test_backward_calls_nested_deeper_than_the_limit_run_plain_and_are_counted():
    from graphtrace.capture.nested import MAX_DEPTH

    v = torch.tensor(float(MAX_DEPTH + 5), requires_grad=True)
    with graphtrace.trace() as t:
        _Deeper.apply(v).sum().backward()
    assert v.grad.item() == 2.0
    assert t.count == 1 and t.not_drawn == {f"nested more than {MAX_DEPTH} deep": 1}
    inner = [n for n, a in t.passes[0].graph.nodes(data=True) if a.get("nested_in") is not None]
    assert inner  # the levels above the limit are drawn
