"""trace() around torch.func, vmap-batched gradcheck and torch.compile: the program runs unchanged."""

from __future__ import annotations

import torch
from torch.func import grad, hessian, jacrev, vjp, vmap

import graphtrace


def _f(t):
    return torch.sin(t**3 + 4).sum()


def _transforms() -> list[torch.Tensor]:
    x = torch.tensor([0.5, 1.0, 2.0])
    _, pullback = vjp(torch.sin, x)
    return [
        grad(_f)(x),
        pullback(torch.ones(3))[0],
        jacrev(torch.sin)(x),
        hessian(_f)(x),
        vmap(grad(lambda t: (t**2).sum()))(torch.ones(2, 3)),
    ]


def test_torch_func_transforms_run_unchanged_and_their_passes_are_counted():
    plain = _transforms()
    with graphtrace.trace() as t:
        traced = _transforms()
    assert all(torch.equal(a, b) for a, b in zip(plain, traced))
    assert abs(plain[0][1].item() - 3 * torch.cos(torch.tensor(5.0)).item()) < 1e-6
    assert t.passes == [] and sum(t.not_drawn.values()) == 5
    assert list(t.not_drawn) == ["inside torch.func transforms"]


def test_batched_gradcheck_runs_under_trace():
    x = torch.rand(3, dtype=torch.double, requires_grad=True)
    with graphtrace.trace() as t:
        assert torch.autograd.gradcheck(torch.sin, x, check_batched_grad=True)
    assert len(t.passes) > 0


def test_a_compiled_model_runs_and_its_backward_is_recorded():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1))
    compiled = torch.compile(model, backend="aot_eager")
    compiled(torch.ones(2, 3)).sum().backward()
    plain = [p.grad.clone() for p in model.parameters()]
    model.zero_grad(set_to_none=True)
    with graphtrace.trace() as t:
        compiled(torch.ones(2, 3)).sum().backward()
    assert all(torch.equal(a, p.grad) for a, p in zip(plain, model.parameters()))
    g = t.passes[0].graph
    ops = [a["op"] for _, a in g.nodes(data=True)]
    assert "CompiledFunctionBackward" in ops
    leaves = {a["param"]: a["grad_after"]["norm"] for _, a in g.nodes(data=True) if a["kind"] == "leaf"}
    assert sorted(leaves) == ["0.bias", "0.weight", "2.bias", "2.weight"]
    assert abs(leaves["2.bias"] - 2.0) < 1e-6  # d(sum over 2 rows)/d bias
