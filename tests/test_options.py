"""trace() options: the block gives a Trace, options fixed and validated once, per-pass limits."""

from __future__ import annotations

import inspect
import math

import pytest
import torch

import graphtrace
from graphtrace import GraphtraceError


def _sin_cube(x: torch.Tensor) -> torch.Tensor:
    return torch.sin(x**3 + 4)


def _three_passes(**options: object) -> tuple[graphtrace.Trace, object]:
    x = torch.tensor(7.0, requires_grad=True)
    tracer = graphtrace.trace(**options)  # type: ignore[arg-type]
    with tracer as t:
        for _ in range(3):
            _sin_cube(x).backward()
    return t, tracer


def _edge(p: graphtrace.Pass, op: str) -> dict:
    return next(a for u, _, a in p.graph.edges(data=True) if p.graph.nodes[u]["op"] == op)


def test_the_block_gives_a_plain_trace_that_the_tracer_reads_like() -> None:
    t, tracer = _three_passes()
    assert type(t) is graphtrace.Trace and len(t) == 3 and t.count == 3
    assert tracer.passes is t.passes and tracer.count == 3 and list(tracer) == t.passes
    # dz/dx at x=7 for sin(x**3+4): cos(347) * 3 * 49 = 21.384121, three times accumulated
    assert t[2].node("x")["grad_after"]["values"] == pytest.approx(3 * 21.384121, rel=1e-6)


def test_keep_an_int_keeps_the_first_passes_and_counts_all() -> None:
    t, _ = _three_passes(keep=2)
    assert [p.index for p in t.passes] == [1, 2] and t.count == 3
    t, _ = _three_passes(keep=False)
    assert t.passes == [] and t.count == 3


def test_jacobian_passes_and_value_passes_limit_the_first_passes() -> None:
    t, _ = _three_passes(jacobian_passes=1, value_passes=2)
    jacobians = [_edge(p, "SinBackward0")["jacobian"] for p in t]
    assert jacobians[0] == [[pytest.approx(math.cos(347.0), rel=1e-6)]] and jacobians[1:] == [None, None]
    grads = [p.node("x")["grad_after"] for p in t]
    assert grads[1]["values"] == pytest.approx(2 * 21.384121, rel=1e-6) and grads[2] is None


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("keep", -1, "keep must be a non-negative int"),
        ("values", "yes", "values must be True or False"),
        ("jacobian_passes", 2.0, "jacobian_passes must be a non-negative int or None"),
        ("value_passes", -3, "value_passes must be a non-negative int or None"),
        ("on_pass", 3, "on_pass must be a function"),
    ],
)
def test_bad_options_are_refused_before_anything_runs(option: str, value: object, message: str) -> None:
    with pytest.raises(GraphtraceError, match=message):
        graphtrace.trace(**{option: value})  # type: ignore[arg-type]


def test_snapshot_validates_value_limit_too() -> None:
    with pytest.raises(GraphtraceError, match="value_limit must be a non-negative int"):
        graphtrace.snapshot(torch.ones(2, requires_grad=True) * 2, value_limit=-1)


def test_options_are_frozen_and_the_public_functions_spell_them_out() -> None:
    tracer = graphtrace.trace(values=False)
    with pytest.raises(AttributeError):
        tracer.options.values = True  # type: ignore[misc]
    for function in (graphtrace.trace, graphtrace.snapshot):
        kinds = {p.kind for p in inspect.signature(function).parameters.values()}
        assert inspect.Parameter.VAR_KEYWORD not in kinds and function.__doc__


def test_the_package_ships_py_typed() -> None:
    from pathlib import Path

    assert (Path(graphtrace.__file__).parent / "py.typed").is_file()
