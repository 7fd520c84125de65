"""graphtrace never runs a backward node where the program could see it (NOTE [pure nodes])."""

from __future__ import annotations

import functools

import torch
from torch.utils.checkpoint import CheckpointPolicy, checkpoint, create_selective_checkpoint_contexts

import graphtrace


def _twice(traced: bool, body) -> object:
    """body() run plain or in a trace() block; its own counts are returned."""
    if not traced:
        return body()
    with graphtrace.trace():
        return body()


def _unpacks() -> int:
    calls = []
    x = torch.ones(3, requires_grad=True)
    with torch.autograd.graph.saved_tensors_hooks(lambda t: t, lambda t: calls.append(1) or t):
        y = (x * x).sum()
    y.backward()
    assert x.grad.tolist() == [2.0, 2.0, 2.0]
    return len(calls)


def test_saved_tensor_unpack_hooks_run_as_often_as_without_tracing():
    assert _twice(False, _unpacks) == _twice(True, _unpacks) == 2


def _forwards() -> int:
    runs = []

    def f(t):
        runs.append(1)
        return t.sin() * 2

    x = torch.tensor([0.5, 1.0], requires_grad=True)
    checkpoint(f, x, use_reentrant=False).sum().backward()
    assert torch.allclose(x.grad, 2 * torch.cos(torch.tensor([0.5, 1.0])))
    return len(runs)


def test_a_checkpointed_forward_is_recomputed_once():
    assert _twice(False, _forwards) == _twice(True, _forwards) == 2


def _policy_calls() -> int:
    calls = []

    def policy(ctx, op, *args, **kwargs):
        calls.append(op)
        return CheckpointPolicy.PREFER_RECOMPUTE

    x = torch.tensor([0.5, 1.0], requires_grad=True)
    contexts = functools.partial(create_selective_checkpoint_contexts, policy)
    checkpoint(lambda t: t.sin().cos(), x, use_reentrant=False, context_fn=contexts).sum().backward()
    assert x.grad is not None
    return len(calls)


def test_selective_checkpoint_recomputes_once_and_its_policy_sees_only_the_programs_ops():
    assert _twice(False, _policy_calls) == _twice(True, _policy_calls)


class _Counted(torch.autograd.Function):
    calls = 0

    @staticmethod
    def forward(ctx, x):
        return x * 3

    @staticmethod
    def backward(ctx, g):
        _Counted.calls += 1
        return g * 3


def test_a_custom_backward_runs_once():
    x = torch.ones(2, requires_grad=True)
    with graphtrace.trace() as t:
        _Counted.apply(x).sum().backward()
    assert _Counted.calls == 1 and x.grad.tolist() == [3.0, 3.0]
    assert len(t.passes) == 1


class _DirtyAdd(torch.autograd.Function):
    calls = 0

    @staticmethod
    def forward(ctx, a, b):
        a.add_(b)
        ctx.mark_dirty(a)
        return a

    @staticmethod
    def backward(ctx, grad):
        _DirtyAdd.calls += 1
        return grad, 3 * grad


def test_a_custom_backward_wrapped_in_copy_slices_runs_once():
    # an in-place custom Function on a view: its node is wrapped in CopySlices (NOTE [pure nodes])
    a = torch.ones(2, requires_grad=True)
    b = torch.ones(2, requires_grad=True)
    with graphtrace.trace() as t:
        _DirtyAdd.apply(a.clone().view_as(a), b).sum().backward()
    assert _DirtyAdd.calls == 1
    assert a.grad.tolist() == [1.0, 1.0] and b.grad.tolist() == [3.0, 3.0]
    assert len(t.passes) == 1


def test_pure_nodes_still_give_their_jacobian():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    with graphtrace.trace() as t:
        (x * x).sum().backward()
    g = t.passes[0].graph
    mul = next(n for n, a in g.nodes(data=True) if a["op"] == "MulBackward0")
    leaf = next(n for n, a in g.nodes(data=True) if a["kind"] == "leaf")
    assert g.edges[mul, leaf]["jacobian"] == [[2.0, 0.0], [0.0, 4.0]]


def test_a_node_whose_jacobians_would_all_be_too_big_is_not_called(monkeypatch):
    """SumBackward0 of a 100-element tensor gives no Jacobian within the limit (64): it is not
    called, so the budget of node calls (here 1) is left for the node after it."""
    from graphtrace.capture import jacobian

    monkeypatch.setattr(jacobian, "MAX_CALLS", 1)
    big = torch.ones(100, requires_grad=True)
    s = torch.tensor(2.0, requires_grad=True)
    with graphtrace.trace() as t:
        torch.autograd.backward([big.sum(), s * 3])
    g = t.passes[0].graph
    ops = {a["op"]: n for n, a in g.nodes(data=True)}
    leaf = next(n for n, a in g.nodes(data=True) if a["kind"] == "leaf" and a["shape"] == [])
    assert ops["SumBackward0"] < ops["MulBackward0"]  # reached first (NOTE [node order])
    assert g.edges[ops["MulBackward0"], leaf]["jacobian"] == [[3.0]]
    assert s.grad.item() == 3.0 and big.grad.tolist() == [1.0] * 100


def _unbound_pass():
    """w = (a + 3b) + a*b with a, b = x.unbind(), x = [1, 2]: MulBackward0 (a*b) -> UnbindBackward0 is
    one edge of two slots going to its two outputs."""
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    with graphtrace.trace() as t:
        a, b = x.unbind()
        w = (a + 3 * b) + a * b
        w.backward()
    assert x.grad.tolist() == [3.0, 4.0]  # output 0 gets 1 + b = 3, output 1 gets 3 + a = 4
    g = t.passes[0].graph
    (unbind,) = [n for n, d in g.nodes(data=True) if d["op"] == "UnbindBackward0"]
    (mul,) = [u for u in g.predecessors(unbind) if len(g.edges[u, unbind]["slots"]) == 2]
    return g, mul, unbind


def test_slots_going_to_different_outputs_are_never_added():
    """NOTE [slots to several outputs]: a*b's two gradients, b = 2 to output 0 and a = 1 to output 1,
    are kept apart; the edge has no sum (it was 3), no Jacobian and no local derivative (it was
    [[3]], "x3": the sum of two derivatives into different outputs)."""
    g, mul, unbind = _unbound_pass()
    e = g.edges[mul, unbind]
    assert e["input_nrs"] == [0, 1]
    assert [p["values"] for p in e["parts"]] == [2.0, 1.0]
    assert e["grad"] is None and e["jacobian"] is None and e["local"] is None
    assert [r["values"] for r in g.nodes[unbind]["grad_in"]] == [3.0, 4.0]
