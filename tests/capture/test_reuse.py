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
