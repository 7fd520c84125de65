"""What tagging skips, and what it must still find (NOTE [calls that make no node], NOTE [ancestor walk])."""

from __future__ import annotations

from pathlib import Path

import torch

import graphtrace
from graphtrace.capture import tagging as tagging_mod
from graphtrace.capture import tracer as tracer_mod


def _line(text: str) -> int:
    return next(i for i, line in enumerate(Path(__file__).read_text().splitlines(), 1) if text in line)


def _counting(monkeypatch, module, name: str) -> list[int]:
    calls: list[int] = []
    original = getattr(module, name)

    def counted(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, counted)
    return calls


class _Double(torch.autograd.Function):  # its node is made where the mode does not see it
    @staticmethod
    def forward(ctx, x):
        return x * 2

    @staticmethod
    def backward(ctx, g):
        return g * 2


def test_calls_that_make_no_node_are_not_tagged(monkeypatch) -> None:
    tags = _counting(monkeypatch, tracer_mod, "tag")
    x = torch.ones(3, requires_grad=True)
    with graphtrace.trace() as t:
        with torch.no_grad():  # an optimizer step
            for _ in range(5):
                x.mul_(0.5)
        plain = torch.ones(3) * 4  # no gradient needed: no node
        assert tags == []
        (x * plain).sum().backward()
    assert len(tags) == 2  # the mul and the sum
    assert x.grad.tolist() == [4.0, 4.0, 4.0]
    sources = {a["op"]: a["source"] for _, a in t.passes[0].graph.nodes(data=True) if a["kind"] == "op"}
    assert sources["MulBackward0"].endswith(f":{_line('(x * plain).sum().backward()')}")


def test_a_chain_of_single_node_calls_walks_no_ancestors_and_nodes_made_between_calls_get_no_wrong_line(
    monkeypatch,
) -> None:
    """NOTE [ancestor walk]: the node a custom Function.apply made (between two calls the mode sees)
    is not given the line of the call that consumes it: it has no line, and no call walks for it."""
    walks = _counting(monkeypatch, tagging_mod, "_tag_ancestors")
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    with graphtrace.trace() as t:
        y = x
        for _ in range(10):
            y = y * 3  # chain line
        h = _Double.apply(y)
        z = h + 1  # consumer line
        for _ in range(5):
            z = z.sin()
        z.sum().backward()
    assert walks == []
    g = t.passes[0].graph
    sources = {}
    for _, a in g.nodes(data=True):
        if a["kind"] == "op":
            sources.setdefault(a["op"], set()).add(a["source"].rsplit(":", 1)[-1])
    assert sources["MulBackward0"] == {str(_line("# chain line"))}
    assert sources["AddBackward0"] == {str(_line("# consumer line"))}
    assert sources["_DoubleBackward"] == {""}
    assert sources["SinBackward0"] == {str(_line("z = z.sin()"))}
    assert x.grad is not None and torch.isfinite(x.grad).all()
