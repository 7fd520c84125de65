"""Entry points recognised through wrappers (a script's own, another tool's): run once, recorded."""

from __future__ import annotations

import functools

import pytest
import torch

import graphtrace


class ToolWrapper:
    """What a tool like torchlens installs: it wraps (``__wrapped__``), logs each call, and
    compares equal to the function it wraps without being it."""

    def __init__(self, func, log: list) -> None:
        functools.update_wrapper(self, func)
        self.func, self.log = func, log

    def __call__(self, *args, **kwargs):
        self.log.append(self.__name__)
        return self.func(*args, **kwargs)

    def __get__(self, obj, owner=None):  # a method when set on a class, as a function would be
        return self if obj is None else functools.partial(self, obj)

    def __eq__(self, other: object) -> bool:
        return other is self.func or other is self

    def __hash__(self) -> int:
        return hash(self.func)


def test_a_scripts_tensor_backward_wrapper_runs_once_and_its_pass_is_recorded(monkeypatch) -> None:
    calls = []
    orig = torch.Tensor.backward

    def scaled_backward(self, *args, **kwargs):  # loss scaling, as in issue 11 item 3
        calls.append(1)
        return orig(self * 2, *args, **kwargs)

    monkeypatch.setattr(torch.Tensor, "backward", scaled_backward)
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    with graphtrace.trace() as t:
        (x * 6).sum().backward()
    assert calls == [1]
    assert x.grad.tolist() == [12.0, 12.0]
    (p,) = t.passes
    assert p.graph.graph["api"] == "Tensor.backward"
    (leaf,) = [a for _, a in p.graph.nodes(data=True) if a["kind"] == "leaf"]
    assert leaf["grad_after"]["values"] == [12.0, 12.0]
    assert p.graph.nodes[0]["grad_in"][0]["values"] == 1.0  # the root is the wrapper's `self * 2`


@pytest.mark.parametrize("api", ["Tensor.backward", "torch.autograd.backward", "torch.autograd.grad"])
def test_another_tools_wrappers_run_once_per_call_and_every_call_is_recorded(api: str, monkeypatch) -> None:
    log: list = []
    monkeypatch.setattr(torch.Tensor, "backward", ToolWrapper(torch.Tensor.backward, log))
    monkeypatch.setattr(torch.autograd, "backward", ToolWrapper(torch.autograd.backward, log))
    monkeypatch.setattr(torch.autograd, "grad", ToolWrapper(torch.autograd.grad, log))

    def run() -> torch.Tensor:
        x = torch.tensor(7.0, requires_grad=True)
        z = torch.sin(x**3 + 4)
        if api == "Tensor.backward":
            z.backward()
            return x.grad
        if api == "torch.autograd.backward":
            torch.autograd.backward([z])
            return x.grad
        return torch.autograd.grad(z, [x])[0]

    plain = run()
    plain_log, log[:] = list(log), []
    with graphtrace.trace() as t:
        traced = run()
    assert torch.equal(traced, plain) and traced.item() == pytest.approx(21.384121)
    assert log == plain_log  # each wrapper ran as often as without graphtrace
    (p,) = t.passes
    assert p.graph.graph["api"] == api


def test_a_wrapper_of_a_python_level_torch_function_runs_once(monkeypatch) -> None:
    log: list = []
    monkeypatch.setattr(torch.nn.functional, "relu", ToolWrapper(torch.nn.functional.relu, log))
    x = torch.tensor([-1.0, 2.0], requires_grad=True)
    with graphtrace.trace() as t:
        torch.nn.functional.relu(x * 3).sum().backward()
    assert log == ["relu"]
    assert x.grad.tolist() == [0.0, 3.0] and len(t.passes) == 1
