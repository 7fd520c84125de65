"""Random autograd programs: tracing changes no number, and what it records adds up."""

from __future__ import annotations

import pytest
import torch
from hypothesis import event, given

import graphtrace

from .checks import check_contributions, check_jacobians, check_leaves
from .programs import FUZZ, Program, bit_equal, programs, run

pytestmark = pytest.mark.fuzz


def check_program(prog: Program) -> dict:
    """Run ``prog`` plain and traced; assert bit-identity and the pass invariants."""
    plain = run(prog)
    traced = run(prog, lambda on_pass: graphtrace.trace(value_limit=prog.value_limit, on_pass=on_pass))
    assert len(plain["states"]) == len(traced["states"]) >= 1
    for sp, st in zip(plain["states"], traced["states"]):
        for a, b in zip(sp["grads"], st["grads"], strict=True):
            assert bit_equal(a, b), f".grad differs under trace(): {a} vs {b}"
        for a, b in zip(sp.get("returned", []), st.get("returned", []), strict=True):
            assert bit_equal(a, b), f"returned gradient differs under trace(): {a} vs {b}"
    t = traced["trace"]
    assert len(t.passes) == len(traced["states"]), "one pass per backward call"
    for via_callback, st in zip(traced["traced_states"], traced["states"], strict=True):
        assert all(bit_equal(a, b) for a, b in zip(via_callback, st["grads"]))
    counts = {"leaves": 0, "contributions": 0, "jacobians": 0}
    before = [None] * len(traced["states"][0]["grads"])
    for p, st in zip(t.passes, traced["states"]):
        g = p.graph
        assert g.graph["error"] == "" and g.graph["capture_error"] == "", g.graph
        counts["leaves"] += check_leaves(g, st, before, st.get("inputs", []))
        counts["contributions"] += check_contributions(g, st, before)
        counts["jacobians"] += check_jacobians(g)
        before = st["grads"]
    again = graphtrace.loads(t.to_json())  # plain data: survives JSON and validation
    assert [p.to_json() for p in again] == [p.to_json() for p in t]
    return counts


@FUZZ
@given(programs)
def test_random_programs(prog: Program) -> None:
    counts = check_program(prog)
    for name, n in counts.items():
        event(f"{name} checked: {'some' if n else 'none'}")


def test_checks_are_not_vacuous() -> None:
    """A fixed program exercises all three checks, and each catches a corrupted pass."""
    prog = Program(
        seed=3,
        leaves=[((2, 3), True, False), ((3,), True, False)],
        ops=[("mul", 0, 1, 0), ("square", 2, 0, 0), ("sin", 0, 0, 0), ("add", 3, 4, 0)],
        finish="backward",
        value_limit=64,
    )
    counts = check_program(prog)
    assert counts["leaves"] == 2 and counts["contributions"] >= 5 and counts["jacobians"] >= 4, counts
    traced = run(prog, lambda on_pass: graphtrace.trace(on_pass=on_pass))
    g = traced["trace"].passes[0].graph
    leaf = next(a for _, a in g.nodes(data=True) if a["kind"] == "leaf")
    leaf["grad_after"]["values"][0][0] += 1.0
    with pytest.raises(AssertionError, match="recorded"):
        check_leaves(g, traced["states"][0], [None, None], [])
    g = run(prog, lambda on_pass: graphtrace.trace(on_pass=on_pass))["trace"].passes[0].graph
    _u, _v, e = next((u, v, e) for u, v, e in g.edges(data=True) if e["jacobian"] and len(e["jacobian"]) > 1)
    e["jacobian"][0][0] += 0.5
    with pytest.raises(AssertionError, match="grad_in @ J"):
        check_jacobians(g)
    e["grad"]["values"] = (
        [x * 3 for x in e["grad"]["values"]]
        if isinstance(e["grad"]["values"][0], float)
        else [[x * 3 for x in row] for row in e["grad"]["values"]]
    )
    with pytest.raises(AssertionError, match="sum to"):
        check_contributions(g)


def _scale(rec: dict, k: float) -> None:
    v = rec["values"]
    rec["values"] = [_scaled(x, k) for x in v] if isinstance(v, list) else v * k


def _scaled(x, k: float):
    return [_scaled(y, k) for y in x] if isinstance(x, list) else x * k


def test_checks_hold_records_against_torch_not_only_against_themselves() -> None:
    """A pass corrupted consistently (each check's own arithmetic still adds up) is caught by the
    outside references: torch's own .grad increment, and a finite difference in float64."""
    prog = Program(
        seed=3,
        leaves=[((2, 3), True, False), ((3,), True, False)],
        ops=[("mul", 0, 1, 0), ("square", 2, 0, 0), ("sin", 0, 0, 0), ("add", 3, 4, 0)],
        finish="backward",
        value_limit=64,
    )
    traced = run(prog, lambda on_pass: graphtrace.trace(on_pass=on_pass))
    state, g = traced["states"][0], traced["trace"].passes[0].graph
    assert check_contributions(g, state, [None, None]) >= 5 and check_jacobians(g) >= 4
    _u, _v, e = next((u, v, e) for u, v, e in g.edges(data=True) if g.nodes[u]["op"] == "SinBackward0")
    e["jacobian"] = [[2 * x for x in row] for row in e["jacobian"]]  # grad_in @ J = grad still holds
    _scale(e["grad"], 2.0)
    with pytest.raises(AssertionError, match="finite difference"):
        check_jacobians(g)
    g = run(prog, lambda on_pass: graphtrace.trace(on_pass=on_pass))["trace"].passes[0].graph
    leaf = next(n for n, a in g.nodes(data=True) if a["kind"] == "leaf" and a["param"] == "1")
    for _, _, e in g.in_edges(leaf, data=True):
        _scale(e["grad"], 3.0)
    _scale(g.nodes[leaf]["grad_in"][0], 3.0)  # the contributions still sum to grad_in
    check_contributions(g)
    with pytest.raises(AssertionError, match="torch added"):
        check_contributions(g, state, [None, None])


def test_tensor_hook_modifying_in_place_is_recorded_as_applied() -> None:
    """Regression: a grad modified in place by a user's tensor hook was recorded as before it.

    The record of the parent's outgoing gradient was reused for the leaf's grad_in because the
    tensor object was the same; the version counter now tells that it changed.
    """
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    x.register_hook(lambda g: g.mul_(10))
    with graphtrace.trace() as t:
        (x * 3).sum().backward()
    leaf = next(a for _, a in t.passes[0].graph.nodes(data=True) if a["kind"] == "leaf")
    assert x.grad.tolist() == [30.0, 30.0]
    assert leaf["grad_in"][0]["values"] == [30.0, 30.0]
    assert leaf["grad_after"]["values"] == [30.0, 30.0]


def test_jacobian_of_a_broadcasting_edge_is_what_the_engine_passes_on() -> None:
    """Regression: a node's raw output for a broadcast input (shape [3] for a scalar leaf)
    was recorded as a 3x3 Jacobian; the engine sums it to the leaf's shape, so J is 3x1.
    Mixed dtypes likewise: the engine casts the gradient to the input's dtype."""
    a = torch.tensor(0.5, requires_grad=True)
    w = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64, requires_grad=True)
    with graphtrace.trace() as t:
        c = a + torch.tensor([1.0, 2.0, 3.0])
        (c * w).sum().backward()
    g = t.passes[0].graph
    add = next(n for n, x in g.nodes(data=True) if x["op"] == "AddBackward0")
    leaf_a = next(n for n, x in g.nodes(data=True) if x["name"] == "a")
    assert g.edges[add, leaf_a]["jacobian"] == [[1.0], [1.0], [1.0]]
    assert g.edges[add, leaf_a]["grad"]["values"] == a.grad.item() == 6.0
    assert check_jacobians(g) >= 3 and check_contributions(g) >= 4


def test_zero_size_tensor_next_to_a_scalar_node() -> None:
    """Regression: the local derivative of an edge into a [3, 0] tensor divided by zero
    (range step 0) after the backward had run, so the user's successful call raised."""
    x = torch.ones(3, 2, requires_grad=True)
    with graphtrace.trace() as t:
        (x[:, :0].sum() + x.sum()).backward()
    assert x.grad.tolist() == [[1.0, 1.0]] * 3
    g = t.passes[0].graph
    assert g.graph["capture_error"] == ""
    e = next(e for u, v, e in g.edges(data=True) if g.nodes[v]["shape"] == [3, 0])
    assert e["jacobian"] == [[]] and e["local"]["values"] == [[], [], []]
