"""torch.autograd.grad: each input's returned gradient is its result, drawn as a sum and a step."""

from __future__ import annotations

from typing import ClassVar

import pytest
import torch

import graphtrace
from graphtrace.render._steps import steps


def test_returned_gradient_is_the_leaf_inputs_sum_and_step():
    x = torch.tensor(2.0, requires_grad=True)
    with graphtrace.trace() as t:
        y = torch.cos(x) + torch.sin(x)
        (g,) = torch.autograd.grad(y, x)
    (p,) = t.passes
    leaf = p.node("x")
    assert g.item() == pytest.approx(-1.3254, abs=1e-4)
    assert leaf["step"] == p.graph.graph["steps"] == 4  # after Add, Sin, Cos: when grad returns
    assert leaf["grad_in"][0]["values"] == leaf["returned_grad"]["values"] == g.item()
    dot = p.to_dot()
    assert "grad in -0.9093 + -0.41615 = -1.3254" in dot and "= None" not in dot
    (last,) = [s for s in steps(p.graph) if s["title"] == "x (leaf)"]
    assert last["sum"] == "-0.90929741 + -0.41614684 = -1.3254442"  # the step page: full float32 precision
    assert ["returned grad", "-1.3254442"] in last["grads"]


def test_intermediate_input_gets_its_returned_gradient_as_a_step():
    x = torch.tensor(2.0, requires_grad=True)
    with graphtrace.trace() as t:
        h = x * 3
        z = torch.sin(h)
        (gh,) = torch.autograd.grad(z, h)
    (p,) = t.passes
    node = p.node("h")
    assert gh.item() == pytest.approx(0.96017, abs=1e-5)  # cos(6)
    assert node["step"] == 2 and node["grad_in"][0]["values"] == gh.item()
    assert "dashed" not in p.to_dot().split('id="node-2"')[1].split("\n")[0]
    assert [s["title"] for s in steps(p.graph)][-1] == "h = MulBackward0"


def test_every_hvp_pass_returns_its_inputs_gradients():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    with graphtrace.trace() as t:
        _, hvp = torch.autograd.functional.hvp(lambda a: (a**3).sum(), x, torch.ones(2))
    assert hvp.tolist() == [6.0, 12.0]
    assert t.passes
    for p in t.passes:
        for nid in p.graph.graph["inputs"]:
            a = p.graph.nodes[nid]
            if a["returned_grad"] is not None:
                assert a["step"] is not None and a["returned_grad"] in a["grad_in"]
    assert t.passes[-1].graph.nodes[t.passes[-1].graph.graph["inputs"][0]]["returned_grad"]["values"] == [6.0, 12.0]


class _Boxed(torch.autograd.Function):
    boxed_grads_call = True
    freed: ClassVar[list[bool]] = []

    @staticmethod
    def forward(ctx, x):
        return x * 2

    @staticmethod
    def backward(ctx, grads):
        import weakref

        g = grads[0]
        kept = g.clone()
        ref = weakref.ref(g)
        grads.clear()
        del g
        _Boxed.freed.append(ref() is None)  # nothing but the list held it (NOTE [hooks that keep gradients])
        return kept * 2


def test_a_boxed_backward_frees_its_gradients_as_without_tracing():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    with graphtrace.trace() as t:
        _Boxed.apply(x).sum().backward()
    assert _Boxed.freed == [True]
    assert x.grad.tolist() == [2.0, 2.0]
    assert t.count == 1
