"""Passes only counted (NOTE [counted passes]): the signature, exact gradient records, full passes where unsure."""

from __future__ import annotations

import math
import sys
import warnings
from pathlib import Path

import pytest
import torch
from torch import nn

import graphtrace
from graphtrace.capture import counted as counted_mod
from graphtrace.capture import tracer as tracer_mod
from graphtrace.capture.walk import outline, outline_signature, signature, walk
from graphtrace.model import Counted
from graphtrace.render.charts import leaf_grads


def _mlp() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    inputs = torch.randn(16, 4)
    targets = torch.sin(inputs.sum(dim=1, keepdim=True))
    return nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1)), inputs, targets


def _train(steps: int, **trace_options: object) -> tuple[list[object], list[dict[str, torch.Tensor]], nn.Module]:
    """``steps`` SGD steps of the small MLP inside ``trace()``; what reached on_pass/on_counted in
    order, each step's gradients (plain copies) and the model."""
    model, inputs, targets = _mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    got: list[object] = []
    grads = []
    with graphtrace.trace(keep=False, on_pass=got.append, on_counted=got.append, **trace_options):  # type: ignore[arg-type]
        for _ in range(steps):
            opt.zero_grad()
            nn.functional.mse_loss(model(inputs), targets).backward()
            grads.append({n: p.grad.clone() for n, p in model.named_parameters()})
            opt.step()
    return got, grads, model


def test_counted_passes_give_the_records_a_full_recording_gives_and_change_no_number() -> None:
    asked: list[tuple[int, str]] = []

    def count_only(index: int, sig: str) -> bool:
        asked.append((index, sig))
        return index not in (1, 2, 4)

    counted_run, grads, model = _train(6, count_only=count_only)
    full_run, _, full_model = _train(6)
    kinds = [type(x).__name__ for x in counted_run]
    # pass 1 has no template yet (count_only is not asked); 2 and 4 asked and refused
    assert kinds == ["Pass", "Pass", "Counted", "Pass", "Counted", "Counted"]
    sig = full_run[0].graph.graph["signature"]  # type: ignore[attr-defined]
    # each pass asked once; 7 asked ahead, after pass 6 was counted (NOTE [lean steady state])
    assert asked == [(i, sig) for i in range(2, 8)]
    plain_model = _mlp()[0]
    opt = torch.optim.SGD(plain_model.parameters(), lr=0.1)
    _, inputs, targets = _mlp()
    for _ in range(6):
        opt.zero_grad()
        nn.functional.mse_loss(plain_model(inputs), targets).backward()
        opt.step()
    for a, b, c in zip(model.parameters(), full_model.parameters(), plain_model.parameters()):
        assert torch.equal(a, c) and torch.equal(b, c)  # the program's numbers, bit for bit
    for item, full in zip(counted_run, full_run):
        if isinstance(item, Counted):
            assert item.signature == sig and item.index == full.graph.graph["index"]  # type: ignore[attr-defined]
            assert item.grads == leaf_grads(full.graph)  # type: ignore[attr-defined]
            assert (item.nodes, item.root_shapes, item.kind, item.api) == (11, [[]], "backward", "Tensor.backward")
    c = counted_run[2]
    assert isinstance(c, Counted)
    names = [k for k, _, _ in c.grads]
    assert names == ["2.bias", "2.weight", "0.bias", "0.weight"] and all(p for _, p, _ in c.grads)
    for name, _, rec in c.grads:
        g = grads[2][name]  # pass 3's own gradient
        assert rec is not None and rec["numel"] == g.numel()
        assert rec["max"] == g.max().item() and rec["min"] == g.min().item()  # exact: no rounding in these
        assert rec["norm"] == pytest.approx(torch.linalg.vector_norm(g.double()).item(), rel=1e-7)
    assert c.grads[0][2]["values"] == grads[2]["2.bias"].tolist()  # type: ignore[index]
    lines = Path(__file__).read_text().splitlines()
    line = next(i for i, text in enumerate(lines, 1) if "targets).backward()" in text)
    assert c.call_site == f"tests/capture/test_counted.py:{line}"


def test_the_walk_gives_the_signature_the_recorded_graph_gets() -> None:
    x = torch.tensor([1.0, -2.0, 0.5], requires_grad=True)
    w = torch.randn(3, 3, requires_grad=True)
    programs = [
        lambda: [((x * 3) ** 2).sum()],
        lambda: [(x + x).sum(), (x @ w).tanh().sum()],  # two roots, a leaf fed twice
        lambda: [(w.t()[0] * x).view(3, 1).expand(3, 2).sum()],
        lambda: [torch.stack([x, x.sin()]).max()],
        lambda: [_Boxed.apply(x * w[0]).sum()],
    ]
    for program in programs:
        roots = program()
        expected = signature(walk(roots))
        o = outline(roots)
        assert o is not None and outline_signature(o) == expected
        with graphtrace.trace() as t:
            torch.autograd.backward(roots)
        assert expected == t.passes[0].graph.graph["signature"]
    assert len({signature(walk(p())) for p in programs}) == len(programs)


class _Twice(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):  # type: ignore[no-untyped-def]
        return x * 2

    @staticmethod
    def backward(ctx, g):  # type: ignore[no-untyped-def]
        return g * 2


class _Boxed(torch.autograd.Function):
    boxed_grads_call = True  # as torch.compile's CompiledFunction: the gradients come as one list

    @staticmethod
    def forward(ctx, x):  # type: ignore[no-untyped-def]
        return x * 2

    @staticmethod
    def backward(ctx, grads):  # type: ignore[no-untyped-def]
        (g,) = grads
        grads.clear()  # frees them, as a compiled backward does
        return g * 2


def _loop(make, steps: int = 4) -> list[str]:  # type: ignore[no-untyped-def]
    got: list[object] = []
    with graphtrace.trace(keep=False, on_pass=got.append, on_counted=got.append, count_only=lambda i, s: True):
        for _ in range(steps):
            make().backward()
    return [type(g).__name__ for g in got]


def test_passes_are_recorded_in_full_where_a_counted_one_could_misname_or_miss() -> None:
    w = torch.tensor([1.0, 2.0], requires_grad=True)
    assert _loop(lambda: (w * 2).sum()) == ["Pass", "Counted", "Counted", "Counted"]
    # a new leaf every step: its name is not known without a full recording
    assert _loop(lambda: (torch.ones(2, requires_grad=True) * 2).sum()) == ["Pass"] * 4
    # a custom Function's backward may run a nested pass into the graph
    assert _loop(lambda: _Twice.apply(w).sum()) == ["Pass"] * 4
    # a boxed one (a compiled region) runs no nested pass a full recording would follow
    assert _loop(lambda: _Boxed.apply(w).sum()) == ["Pass", "Counted", "Counted", "Counted"]
    assert torch.equal(w.grad, torch.tensor([24.0, 24.0]))  # 2 per pass, in the 12 passes of three loops on w

    got: list[object] = []  # the same structure from two call sites: each its own template
    with graphtrace.trace(keep=False, on_pass=got.append, on_counted=got.append, count_only=lambda i, s: True):
        for _ in range(2):
            (w * 2).sum().backward()
            (w * 2).sum().backward()
    assert [type(g).__name__ for g in got] == ["Pass", "Pass", "Counted", "Counted"]


def test_a_counted_grad_call_records_what_it_returned() -> None:
    w = torch.tensor([1.0, -2.0, 0.5], requires_grad=True)
    got: list[object] = []
    with graphtrace.trace(keep=False, on_pass=got.append, on_counted=got.append, count_only=lambda i, s: True):
        for k in (1.0, 3.0):
            (g,) = torch.autograd.grad(((w * k) ** 2).sum(), w)
            assert torch.equal(g, 2 * k * k * w.detach())
    c = got[1]
    assert isinstance(c, Counted) and (c.kind, c.api) == ("grad", "torch.autograd.grad")
    assert c.grads[0][:2] == ("w", False)
    rec = c.grads[0][2]
    assert rec is not None and rec["values"] == [18.0, -36.0, 9.0] and rec["max"] == 18.0
    assert rec["norm"] == pytest.approx(math.sqrt(18.0**2 + 36.0**2 + 9.0**2), rel=1e-7)
    assert w.grad is None  # grad() accumulates nothing, traced or not


def test_a_counted_pass_makes_no_seed_and_names_the_api_that_called_it(monkeypatch) -> None:
    """A pass only counted reads no seed, so none is made for it (the full recordings make theirs);
    its call site and caller come from one walk up the stack, as a full recording's do."""
    made: list[str] = []
    ones_like = torch.ones_like

    def spy(*args: object, **kwargs: object) -> torch.Tensor:
        if sys._getframe(1).f_code.co_filename == tracer_mod.__file__:
            made.append("seed")
        return ones_like(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(torch, "ones_like", spy)
    got, _, _ = _train(4, count_only=lambda i, s: True)
    assert [type(g).__name__ for g in got] == ["Pass", "Counted", "Counted", "Counted"] and made == ["seed"]
    w = torch.tensor([1.0, -2.0], requires_grad=True)
    seen: list[object] = []
    with graphtrace.trace(keep=False, on_pass=seen.append, on_counted=seen.append, count_only=lambda i, s: True):
        for _ in range(2):
            torch.autograd.functional.jacobian(lambda x: x * 3, w)
    full = seen[0]
    assert [type(g).__name__ for g in seen] == ["Pass", "Counted", "Pass", "Counted"]  # a grad call per row
    site = (full.graph.graph["call_site"], full.graph.graph["caller"])  # type: ignore[attr-defined]
    assert site[1] == "torch.autograd.functional.jacobian"
    assert all((c.call_site, c.caller) == site for c in seen if isinstance(c, Counted))


def test_values_off_counts_passes_with_no_records_and_frees_provenance() -> None:
    w = torch.tensor([1.0, 2.0], requires_grad=True)
    got: list[object] = []
    tracer = graphtrace.trace(keep=False, on_counted=got.append, count_only=lambda i, s: True, value_passes=1)
    with tracer as t:
        for _ in range(5):
            (w.sin() * 2).sum().backward()
        assert len(tracer.table) == 0  # each counted pass dropped the provenance of its freed graph
    assert t.count == 5 and len(got) == 4
    assert all(isinstance(c, Counted) and c.grads == [("w", False, None)] for c in got)
    assert torch.equal(w.grad, 5 * 2 * torch.cos(w.detach()))


def _backward(loss: torch.Tensor) -> None:
    loss.backward()  # one call site for the passes of a test


def test_an_error_in_a_counted_pass_is_the_users_and_is_counted() -> None:
    w = torch.tensor([1.0, 2.0], requires_grad=True)
    got: list[object] = []
    with graphtrace.trace(keep=False, on_pass=got.append, on_counted=got.append, count_only=lambda i, s: True) as t:
        loss = (w * 2).sum()
        _backward(loss)
        loss = (w * 2).sum()
        _backward(loss)
        with pytest.raises(RuntimeError, match="Trying to backward through the graph a second time"):
            _backward(loss)  # its graph was freed
    assert t.count == 3
    assert isinstance(got[2], Counted) and got[2].error.startswith("RuntimeError: Trying to backward")


@pytest.mark.parametrize("stage", ["start", "init", "finish"])
def test_a_fault_of_ours_in_a_counted_pass_is_one_warning_and_the_plain_call(monkeypatch, stage: str) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise RuntimeError("injected")

    w = torch.tensor([1.0, 2.0], requires_grad=True)
    with graphtrace.trace(keep=False, count_only=lambda i, s: True):
        for step in range(2):  # the first pass is the template of the second
            if step == 1:
                target = {"start": counted_mod.Counting, "init": counted_mod.Light}.get(stage, counted_mod.Light)
                monkeypatch.setattr(target, {"start": "start", "init": "__init__"}.get(stage, "finish"), fail)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                (w * 3).sum().backward()
    assert [str(c.message) for c in caught] == ["graphtrace could not record pass 2: RuntimeError('injected')"]
    assert torch.equal(w.grad, torch.tensor([6.0, 6.0]))
