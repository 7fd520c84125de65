"""The walk's outline (NOTE [outlines]): the signature a full walk gives, looked up for a structure met before."""

from __future__ import annotations

import pytest
import torch

from graphtrace.capture import walk as walk_mod
from graphtrace.capture.walk import TooBig, outline, outline_signature, signature, walk


def _programs() -> list[list[torch.Tensor]]:
    x = torch.tensor([1.0, -2.0, 0.5], requires_grad=True)
    w = torch.randn(3, 3, requires_grad=True)
    y = x * 2
    a, b = torch.tensor([3.0, 4.0], requires_grad=True).unbind()
    return [
        [((x * 3) ** 2).sum()],
        [(x + x).sum(), (x @ w).tanh().sum()],  # two roots, a leaf fed twice
        [y.sum(), (y * 3).sum(), y.sum()],  # roots sharing nodes, one root twice
        [x],  # a leaf as the root
        [(w.t()[0] * x).view(3, 1).expand(3, 2).sum()],
        [a * b],  # two outputs of one node
        [torch.stack([x, x.detach()]).sum()],  # a slot that leads nowhere (no gradient)
    ]


def test_the_outline_gives_the_signature_of_the_full_walk_and_the_nodes_in_its_order() -> None:
    walk_mod._SIGNATURES.clear()
    keys = set()
    for roots in _programs():
        sk, o = walk(roots), outline(roots)
        assert o is not None and o.fns == sk.fns and o.ids == sk.ids
        assert outline_signature(o) == signature(sk) is not None
        keys.add(o.key)
    assert len(keys) == len(_programs()) == len(walk_mod._SIGNATURES)


def test_a_structure_met_before_is_looked_up_without_the_full_walk(monkeypatch: pytest.MonkeyPatch) -> None:
    x = torch.randn(4, 3, requires_grad=True)
    first = outline([(x.tanh() * 2).sum()])
    assert first is not None
    expected = outline_signature(first)

    def no_walk(roots: object) -> None:
        raise AssertionError("walked in full")

    monkeypatch.setattr(walk_mod, "walk", no_walk)
    again = outline([(x.tanh() * 2).sum()])  # new nodes, the same structure
    assert again is not None and again.fns[0] is not first.fns[0] and outline_signature(again) == expected
    other = outline([(x[:2].tanh() * 2).sum()])  # other shapes: another key, another signature
    with pytest.raises(AssertionError, match="walked in full"):
        outline_signature(other)  # type: ignore[arg-type]
    monkeypatch.undo()
    assert outline_signature(other) != expected  # type: ignore[arg-type]


@pytest.mark.filterwarnings("ignore:The PyTorch API of nested tensors")
def test_what_the_outline_cannot_read_is_left_to_the_full_walk(monkeypatch: pytest.MonkeyPatch) -> None:
    nt = torch.nested.nested_tensor([torch.ones(2), torch.ones(3)], requires_grad=True)
    assert outline([nt]) is None  # a nested tensor's shape
    x = torch.ones(3, requires_grad=True)
    monkeypatch.setattr(walk_mod, "MAX_NODES", 3)
    with pytest.raises(TooBig):
        outline([(x * 2 + 1).sin().sum()])
    assert outline([(x * 2).sum()]) is not None  # 3 nodes: SumBackward0, MulBackward0, AccumulateGrad
    with pytest.raises(TooBig):  # as walk() does
        outline([x * k for k in range(4)])
