"""The five seed tutorials' scenarios, captured, with their known numbers."""

from __future__ import annotations

import math

import pytest
import torch

import graphtrace


def val(rec):
    """The recorded values of a value record (a number for a scalar)."""
    assert rec is not None, "expected a recorded value"
    return rec["values"]


def by_op(p, op):
    return [a for _, a in p.graph.nodes(data=True) if a["op"] == op]


def in_grads(p, name):
    nid = next(n for n, a in p.graph.nodes(data=True) if a["name"] == name and a["kind"] != "root")
    return sorted(val(a["grad"]) for _, _, a in p.graph.in_edges(nid, data=True))


def test_seed000_chain_rule_with_retain_grad():
    x = torch.tensor(7.0, requires_grad=True)
    with graphtrace.trace() as t:
        y = x**3 + 4
        y.retain_grad()
        z = torch.sin(y)
        z.backward()
    (p,) = t.passes
    assert x.grad.item() == pytest.approx(21.384121, abs=1e-5)
    assert val(p.node("x")["grad_after"]) == pytest.approx(21.384121, abs=1e-5)
    assert p.node("x")["grad_before"] is None
    assert val(p.node("x")["value"]) == 7.0
    assert val(p.node("y")["retained_grad"]) == pytest.approx(0.14547, abs=1e-5)
    assert p.node("y")["retains_grad"] is True
    sin, pow_ = by_op(p, "SinBackward0")[0], by_op(p, "PowBackward0")[0]
    edges = {p.graph.nodes[u]["op"]: a for u, _, a in p.graph.edges(data=True)}
    assert val(edges["SinBackward0"]["local"]) == pytest.approx(math.cos(347.0), abs=1e-5)
    assert val(edges["PowBackward0"]["local"]) == pytest.approx(147.0)
    assert edges["PowBackward0"]["jacobian"] == [[147.0]]
    assert (sin["step"], pow_["step"], p.node("x")["step"]) == (1, 3, 4)
    assert val(p.graph.nodes[0]["grad_in"][0]) == 1.0  # the seed
    assert p.graph.graph["api"] == "Tensor.backward" and p.graph.graph["kind"] == "backward"
    assert sin["source"].endswith("test_seeds.py:" + str(_line_of("z = torch.sin(y)")))


def _line_of(text: str) -> int:
    with open(__file__) as f:
        return next(i for i, line in enumerate(f, 1) if text in line)


def test_seed001_leaf_and_non_leaf_attributes():
    x = torch.tensor(2.0, requires_grad=True)
    with graphtrace.trace() as t:
        y = x**2
        y.backward()
    p = t.passes[0]
    leaf, root = p.node("x"), p.graph.nodes[0]
    assert (leaf["kind"], leaf["is_leaf"], leaf["requires_grad"]) == ("leaf", True, True)
    assert (root["name"], root["is_leaf"], root["requires_grad"]) == ("y", False, True)
    assert by_op(p, "PowBackward0")[0]["name"] == "y"  # y.grad_fn
    assert val(leaf["grad_after"]) == 4.0 == x.grad.item()


@pytest.mark.parametrize(
    "f, at, expected",
    [
        (lambda x: x**2 + 2 * x + 1, 2.0, 6.0),
        (lambda x: 2 * x**3 + x, 1.0, 7.0),
        (lambda x: 8 * x**4 + 3 * x**3 + 7 * x**2 + 6 * x + 3, 2.0, 326.0),
    ],
)
def test_seed_polynomial_derivatives(f, at, expected):
    x = torch.tensor(at, requires_grad=True)
    with graphtrace.trace() as t:
        f(x).backward()
    assert val(t.passes[0].node("x")["grad_after"]) == expected == x.grad.item()


def test_seed001_partials_where_paths_meet():
    u = torch.tensor(1.0, requires_grad=True)
    v = torch.tensor(2.0, requires_grad=True)
    with graphtrace.trace() as t:
        f = u * v + u**2
        f.backward()
    p = t.passes[0]
    assert in_grads(p, "u") == [2.0, 2.0]  # df/du through u*v and through u**2
    assert val(p.node("u")["grad_in"][0]) == 4.0 == val(p.node("u")["grad_after"])
    assert val(p.node("v")["grad_after"]) == 1.0


def test_seed001_vector_sum_and_relu():
    x = torch.linspace(-10, 10, 10, requires_grad=True)
    with graphtrace.trace() as t:
        torch.sum(x**2).backward()
        x.grad = None
        torch.relu(x).sum().backward()
    square, relu = t.passes
    assert val(square.node("x")["grad_after"]) == pytest.approx((2 * x.detach()).tolist())
    assert val(relu.node("x")["grad_after"]) == [0.0] * 5 + [1.0] * 5
    relu_edge = next(a for u, _, a in relu.graph.edges(data=True) if relu.graph.nodes[u]["op"] == "ReluBackward0")
    assert val(relu_edge["local"]) == [0.0] * 5 + [1.0] * 5  # diagonal of the local Jacobian


def test_seed002_grad_then_accumulating_backward():
    x1 = torch.tensor(2.0, requires_grad=True)
    with graphtrace.trace() as t:
        y = torch.cos(x1) + torch.sin(x1)
        (g,) = torch.autograd.grad(y, x1, retain_graph=True)
        for _ in range(3):
            y.backward(retain_graph=True)
    grad_pass, *backward_passes = t.passes
    assert grad_pass.kind == "grad" and grad_pass.graph.graph["api"] == "torch.autograd.grad"
    leaf = grad_pass.node("x1")
    assert val(leaf["returned_grad"]) == pytest.approx(-1.3254, abs=1e-4) == g.item()
    assert leaf["grad_after"] is None and leaf["step"] == 4  # .grad untouched; returned at step 4
    befores = [p.node("x1")["grad_before"] for p in backward_passes]
    afters = [val(p.node("x1")["grad_after"]) for p in backward_passes]
    increments = [val(p.node("x1")["grad_in"][0]) for p in backward_passes]
    assert befores[0] is None
    assert [val(b) for b in befores[1:]] == afters[:2]
    assert increments == pytest.approx([-1.3254] * 3, abs=1e-4)
    assert afters == pytest.approx([-1.3254, -2.6509, -3.9763], abs=1e-4)
    assert afters[-1] == x1.grad.item()
    assert [p.index for p in t.passes] == [1, 2, 3, 4]


def test_seed002_backward_with_gradient_vector():
    x = torch.tensor([1.0, 2.0, -2.0], requires_grad=True)
    v = torch.tensor([1.0, 0.8, 0.6])
    with graphtrace.trace() as t:
        y = x**2
        y.backward(gradient=v)
    p = t.passes[0]
    assert val(p.graph.nodes[0]["grad_in"][0]) == pytest.approx([1.0, 0.8, 0.6])
    assert val(p.node("x")["grad_after"]) == pytest.approx([2.0, 3.2, -2.4])
    assert p.graph.edges[1, 2]["jacobian"] == [[2.0, 0, 0], [0, 4.0, 0], [0, 0, -4.0]]


def test_seed002_jacobian_rows_with_one_hot_vectors():
    x = torch.tensor([1.0, 2.0, -2.0], requires_grad=True)
    with graphtrace.trace() as t:
        y = x**2
        for i in range(3):
            x.grad = None
            y.backward(torch.eye(3)[i], retain_graph=True)
    rows = [val(p.node("x")["grad_after"]) for p in t.passes]
    assert rows == [[2.0, 0.0, 0.0], [0.0, 4.0, 0.0], [0.0, 0.0, -4.0]]


def test_seed004_functional_jacobian():
    a = torch.tensor([[1.0, 2, 3], [4, 5, 6]])
    with graphtrace.trace() as t:
        jac = torch.autograd.functional.jacobian(lambda x: 2 * x**3 + 5 * x**2 + 7 * x + 10, a)
    assert len(t.passes) == 6  # one autograd.grad per output element
    assert {p.graph.graph["caller"] for p in t.passes} == {"torch.autograd.functional.jacobian"}
    diagonal = []
    for i, p in enumerate(t.passes):
        (inp,) = p.graph.graph["inputs"]
        row = val(p.graph.nodes[inp]["returned_grad"])
        diagonal.append(row[i // 3][i % 3])
    assert diagonal == [23.0, 51.0, 91.0, 143.0, 207.0, 283.0]
    assert torch.equal(jac.reshape(6, 6).diagonal(), torch.tensor(diagonal))


def test_seed003_sigmoid_and_relu_of_affine():
    x = torch.tensor(2.0, requires_grad=True)
    w, xin, b = (torch.tensor(v, requires_grad=True) for v in (2.0, 1.0, 0.5))
    with graphtrace.trace() as t:
        s = torch.sigmoid(x)
        s.backward()
        a = torch.relu(w * xin + b)
        a.backward()
    sig, relu = t.passes
    assert val(sig.node("x")["grad_after"]) == pytest.approx(0.1049936, abs=1e-7)
    assert val(relu.node("w")["grad_after"]) == 1.0  # da/dw = x = 1
    assert val(relu.node("b")["grad_after"]) == 1.0


def test_higher_order_pass_contains_nodes_the_first_backward_created():
    x = torch.tensor(3.0, requires_grad=True)
    with graphtrace.trace() as t:
        y = x**3
        (dy,) = torch.autograd.grad(y, x, create_graph=True)
        dy.backward()
    first, second = t.passes
    assert first.graph.graph["create_graph"] is True
    assert val(first.node("x")["returned_grad"]) == 27.0
    assert val(second.node("x")["grad_after"]) == 18.0  # d2y/dx2 = 6x
    assert second.graph.nodes[0]["name"] == "dy"
    assert any(a["op"] == "MulBackward0" for _, a in second.graph.nodes(data=True))


def test_parameter_names_of_modules_in_the_calling_frame():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.ReLU(), torch.nn.Linear(2, 1))
    with graphtrace.trace() as t:
        model(torch.ones(1, 3)).sum().backward()
    p = t.passes[0]
    params = sorted(a["param"] for _, a in p.graph.nodes(data=True) if a["kind"] == "leaf")
    assert params == ["0.bias", "0.weight", "2.bias", "2.weight"]
    assert torch.equal(torch.tensor(val(p.node("0.weight")["grad_after"])), model[0].weight.grad)
    modules = {a["module"] for _, a in p.graph.nodes(data=True) if a["kind"] == "op"}
    assert {"0", "1", "2"} <= modules


def test_every_backward_entry_point_is_recorded():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    with graphtrace.trace() as t:
        y = (x * 3).sum()
        y.backward(retain_graph=True)
        torch.autograd.backward([y], retain_graph=True)
        torch.autograd.backward(y, inputs=[x], retain_graph=True)
        torch.autograd.grad([y], [x])
    apis = [p.graph.graph["api"] for p in t.passes]
    assert apis == ["Tensor.backward", "torch.autograd.backward", "torch.autograd.backward", "torch.autograd.grad"]
    assert [p.graph.graph["retain_graph"] for p in t.passes] == [True, True, True, False]
    assert t.passes[2].graph.graph["inputs"] == [t.passes[2].graph.graph["inputs"][0]]
    assert val(t.passes[2].node("x")["grad_after"]) == [9.0, 9.0]


def test_jacobians_stop_at_64_elements_whatever_the_value_limit():
    x = torch.arange(1.0, 66.0, requires_grad=True)  # 65 elements
    small = torch.arange(1.0, 5.0, requires_grad=True)
    with graphtrace.trace(value_limit=1000) as t:
        (x.sin() * 2).sum().backward()
        (small.sin() * 2).sum().backward()
    big_pass, small_pass = t.passes
    assert all(a["jacobian"] is None for *_, a in big_pass.graph.edges(data=True))
    assert len(val(big_pass.node("x")["grad_after"])) == 65  # values still in full
    g = small_pass.graph
    sin_edge = next(a for u, _, a in g.edges(data=True) if g.nodes[u]["op"] == "SinBackward0")
    assert len(sin_edge["jacobian"]) == 4
