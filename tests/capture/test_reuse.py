"""Recorded values are never reused when they may be stale: every number is the tensor's own."""

from __future__ import annotations

import pytest
import torch

import graphtrace


def test_a_write_through_data_that_skips_the_version_counter_is_seen():
    w = torch.full((100, 100), 1.0, requires_grad=True)  # 10,000 elements: summarised
    with graphtrace.trace() as t:
        (w * 2).sum().backward()
        w.data[0, 1] += 1000  # one element, outside any sample; w._version does not move
        (w * 2).sum().backward()
    before, after = (p.node("w")["value"] for p in t.passes)
    assert before["norm"] == pytest.approx(100.0) and before["max"] == 1.0
    assert after["norm"] == pytest.approx((9999 + 1001.0**2) ** 0.5, rel=1e-6)  # 1005.98
    assert after["max"] == 1001.0 and after["mean"] == pytest.approx(1.1)


def test_a_write_through_a_numpy_view_is_seen():
    w = torch.zeros(200, requires_grad=True)
    view = w.detach().numpy()
    with graphtrace.trace() as t:
        w.sum().backward()
        view[123] = 7.0
        w.sum().backward()
    assert [p.node("w")["value"]["max"] for p in t.passes] == [0.0, 7.0]


def _summarised(monkeypatch) -> list[int]:
    from graphtrace.capture import values

    seen: list[int] = []
    summary = values._summary
    monkeypatch.setattr(values, "_summary", lambda t: seen.append(t.data_ptr()) or summary(t))
    return seen


def test_a_weight_gradient_reaching_its_leaf_through_a_transpose_is_summarised_once(monkeypatch):
    """NOTE [views read at arrival]: TBackward0 hands the leaf a view of its own gradient."""
    torch.manual_seed(0)
    lin = torch.nn.Linear(100, 100, bias=False)
    x = torch.randn(3, 100)
    with graphtrace.trace() as t:
        out = lin(x)
        seen = _summarised(monkeypatch)
        out.sum().backward()
    g = t.passes[0].graph
    leaf = next(n for n, a in g.nodes(data=True) if a["param"] == "weight")
    tnode = next(n for n, a in g.nodes(data=True) if a["op"] == "TBackward0")
    rec = g.nodes[leaf]["grad_in"][0]
    assert rec["shape"] == [100, 100] and g.nodes[tnode]["grad_in"][0]["shape"] == [100, 100]
    assert rec["norm"] == torch.linalg.vector_norm(lin.weight.grad).item()
    assert rec["mean"] == lin.weight.grad.sum().item() / 10_000 and rec["max"] == lin.weight.grad.max().item()
    assert g.edges[tnode, leaf]["grad"] == rec and g.nodes[leaf]["grad_after"] == rec
    assert seen.count(lin.weight.grad.data_ptr()) == 1


def test_a_view_changed_in_place_before_its_leaf_reads_it_is_summarised_again(monkeypatch):
    """The held record is not reused once the elements may have changed: a post-hook of the
    program doubles TBackward0's output in place (its version moves)."""
    w = torch.ones(10, 10, requires_grad=True)
    x = torch.ones(10, 10)
    with graphtrace.trace() as t:
        y = (x @ w.t()).sum()
        tb = next(fn for fn, _ in y.grad_fn.next_functions[0][0].next_functions if fn is not None and "T" in fn.name())

        def double(grad_inputs, grad_outputs):
            grad_inputs[0].mul_(2)

        tb.register_hook(double)
        seen = _summarised(monkeypatch)
        y.backward()
    g = t.passes[0].graph
    tnode = next(n for n, a in g.nodes(data=True) if a["op"] == "TBackward0")
    assert g.nodes[tnode]["grad_in"][0]["max"] == 10.0
    assert t.passes[0].node("w")["grad_in"][0]["max"] == 20.0 and w.grad.max().item() == 20.0
    assert seen  # summarised afresh, from the doubled elements
