"""Gradients leaving a node are read where they arrive: no post-hook of ours where torch would notice it."""

from __future__ import annotations

import torch

import graphtrace


def _var_mean_loss(a: torch.Tensor, seen: list[list[bool]]) -> None:
    """(var + mean).sum() of ``a``'s columns, backward, a post-hook added while VarMeanBackward0 runs."""

    def pack(t: torch.Tensor) -> torch.Tensor:
        return t

    def unpack(t: torch.Tensor) -> torch.Tensor:
        node = torch._C._current_autograd_node()

        def halve(grad_inputs, grad_outputs):
            seen.append([g is None for g in grad_outputs])  # the node's inputs, as torch hands them
            return tuple(g / 2.0 if g is not None else None for g in grad_inputs)

        node.register_hook(halve)
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, unpack):
        var, mean = torch.var_mean(a, dim=0)
        (var + mean).sum().backward()


def test_a_post_hook_registered_while_its_node_runs_gets_no_gradients_as_without_tracing():
    data = torch.tensor([[1.0, 4.0], [3.0, 0.0], [8.0, 2.0]])
    plain_a = data.clone().requires_grad_()
    plain_seen: list[list[bool]] = []
    _var_mean_loss(plain_a, plain_seen)
    a = data.clone().requires_grad_()
    seen: list[list[bool]] = []
    with graphtrace.trace() as t:
        _var_mean_loss(a, seen)
    assert plain_seen == seen == [[]]  # a late post-hook gets no inputs (torch's had_post_hooks)
    assert torch.equal(a.grad, plain_a.grad)
    # d(var + mean)/da of column [1, 3, 8] (mean 4, unbiased var): a - 4 + 1/3, halved by the hook
    assert torch.allclose(a.grad[:, 0], torch.tensor([-4.0 / 3, -1.0 / 3, 13.0 / 6]))
    (p,) = t.passes
    (into,) = [e for _, v, e in p.graph.edges(data=True) if p.graph.nodes[v]["kind"] == "leaf"]
    assert into["grad"]["values"] == a.grad.tolist()  # what flowed: the halved gradient


def test_what_leaves_a_node_is_what_its_user_post_hook_made_of_it():
    x = torch.tensor([2.0, 5.0], requires_grad=True)
    with graphtrace.trace() as t:
        y = x * 3
        added: list[object] = []

        def late(grad_outputs):  # a pre-hook adds a post-hook to the same node, after graphtrace's
            if not added:
                added.append(y.grad_fn.register_hook(lambda gi, go: (gi[0] + 100, *gi[1:])))

        y.grad_fn.register_prehook(late)
        y.sum().backward()
    assert x.grad.tolist() == [103.0, 103.0]
    (p,) = t.passes
    (into,) = [e for _, v, e in p.graph.edges(data=True) if p.graph.nodes[v]["name"] == "x"]
    assert into["grad"]["values"] == [103.0, 103.0]  # recorded after the user's post-hook, not [3, 3]
    assert p.node("x")["grad_in"][0]["values"] == [103.0, 103.0]


def test_the_gradient_autograd_grad_returns_is_what_reached_the_input():
    x = torch.tensor([2.0, 5.0], requires_grad=True)
    with graphtrace.trace() as t:
        y = x**3
        (g,) = torch.autograd.grad(y.sum(), x)
    assert g.tolist() == [12.0, 75.0]  # 3 x^2
    (p,) = t.passes
    (into,) = [e for _, v, e in p.graph.edges(data=True) if p.graph.nodes[v]["name"] == "x"]
    assert into["grad"]["values"] == [12.0, 75.0]  # the leaf's node did not run: read from the result


def test_a_post_hook_added_after_graphtraces_is_not_misstated():
    x = torch.tensor([2.0, 5.0], requires_grad=True)
    with graphtrace.trace() as t:
        h = x * 3
        y = h * h  # MulBackward0 of h*h feeds h's node: graphtrace's post-hook stays there
        added: list[object] = []

        def late(grad_outputs):
            if not added:
                added.append(y.grad_fn.register_hook(lambda gi, go: (gi[0] + 1, gi[1] + 1)))

        y.grad_fn.register_prehook(late)
        y.sum().backward()
    assert x.grad.tolist() == [42.0, 96.0]  # (2h + 2) * 3, h = [6, 15]
    (p,) = t.passes
    into_h = [e for u, _, e in p.graph.edges(data=True) if p.graph.nodes[u]["name"] == "y"]
    assert [(e["grad"], e.get("parts")) for e in into_h] == [(None, None)]  # not h twice, as our hook saw them
    assert p.node("h")["grad_in"][0]["values"] == [14.0, 32.0]  # what MulBackward0 of x * 3 got
