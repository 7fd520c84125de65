"""Anomaly mode's forward tracebacks: the same frames with and without graphtrace."""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F

import graphtrace


class Net(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = torch.nn.Linear(2, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sqrt(F.relu(self.lin(x)) - 10.0)


def _stacks(traced: bool) -> dict[str, list[str]]:
    torch.manual_seed(0)
    net = Net()
    block = graphtrace.trace() if traced else contextlib.nullcontext()
    with block, torch.autograd.detect_anomaly(check_nan=False):
        out = net(torch.ones(1, 2))  # the same line for both
        made = {"sqrt": out.grad_fn, "relu": out.grad_fn.next_functions[0][0].next_functions[0][0]}
        made["addmm"] = made["relu"].next_functions[0][0]
        return {name: list(fn.metadata["traceback_"]) for name, fn in made.items()}


def test_anomaly_tracebacks_of_nodes_made_in_a_trace_are_those_made_without_it() -> None:
    plain, traced = _stacks(False), _stacks(True)
    assert [name for name in plain] == ["sqrt", "relu", "addmm"]
    assert any("return forward_call(*args, **kwargs)" in line for line in plain["sqrt"])
    assert any("F.relu(self.lin(x))" in line for line in plain["relu"])
    for name in plain:
        assert traced[name] == plain[name], name
