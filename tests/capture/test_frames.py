"""The user's frames look as without tracing: locals() keeps what it held, nothing is kept alive."""

from __future__ import annotations

import gc
import weakref

import torch

import graphtrace


def test_a_locals_dict_taken_before_a_traced_backward_keeps_its_content():
    x = torch.ones(2, requires_grad=True)
    loss = (x * 2).sum()
    held = locals()  # NOTE [frame locals]: the frame's one dict, refreshed by any f_locals read
    before = dict(held)
    later = 5  # not in `held` until locals() is called again, as in plain Python
    with graphtrace.trace() as t:
        loss.backward()
    assert held == before and sorted(held) == ["loss", "x"]
    assert t.passes[0].graph.nodes[0]["name"] == "loss"  # the names were read all the same


def test_a_deleted_local_is_freed_after_a_traced_backward():
    x = torch.ones(3, requires_grad=True)
    with graphtrace.trace():
        big = torch.randn(100, 100)
        ref = weakref.ref(big)
        loss = (x.sum() * big).sum()
        loss.backward()
        del big, loss
        gc.collect()
        assert ref() is None
