"""The lean steady state (NOTE [lean steady state]): no mode on the forward while passes are only counted."""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import torch
from torch import nn
from torch.overrides import TorchFunctionMode

import graphtrace
from graphtrace.capture import lean as lean_mod
from graphtrace.capture import tracer as tracer_mod
from graphtrace.capture.tracer import FORWARD_NOT_RECORDED, Tracer
from graphtrace.model import Counted, Pass

ENGINE = torch.autograd.graph._engine_run_backward  # torch's own, as torch.autograd holds it


def _modes() -> list[Any]:
    return [torch._C._get_function_stack_at(i) for i in range(torch._C._len_torch_function_stack())]


def _ours() -> bool:
    return any(getattr(m, "graphtrace_mode", False) for m in _modes())


def _count_only(full: set[int]) -> Callable[[int, str], bool]:
    """A ``count_only`` that records in full exactly the passes numbered in ``full``."""
    return lambda index, sig: index not in full


def _mlp() -> tuple[nn.Module, torch.Tensor, torch.Tensor, torch.optim.Optimizer]:
    torch.manual_seed(0)
    inputs = torch.randn(16, 4)
    targets = torch.sin(inputs.sum(dim=1, keepdim=True))
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))
    return model, inputs, targets, torch.optim.SGD(model.parameters(), lr=0.1)


def _loop(steps: int, tracer: Tracer | None, states: list[tuple[int, bool, bool]] | None = None) -> nn.Module:
    """``steps`` SGD steps; before each backward, (pass number, lean, our mode on the stack) into ``states``."""
    model, inputs, targets, opt = _mlp()
    for _ in range(steps):
        opt.zero_grad()
        loss = nn.functional.mse_loss(model(inputs), targets)
        if states is not None and tracer is not None:
            states.append((tracer.count + 1, tracer._lean.on, _ours()))
        loss.backward()
        opt.step()
    return model


def test_counted_passes_run_lean_and_full_ones_keep_their_provenance() -> None:
    got: list[Any] = []
    full = {1, 2, 4, 8}
    tr = graphtrace.trace(keep=False, count_only=_count_only(full), on_pass=got.append, on_counted=got.append)
    states: list[tuple[int, bool, bool]] = []
    with tr:
        model = _loop(12, tr, states)
    plain = _loop(12, None)
    for a, b in zip(model.parameters(), plain.parameters()):
        assert torch.equal(a, b)  # the numbers, bit for bit
    assert [type(x).__name__ for x in got] == ["Pass" if i in full else "Counted" for i in range(1, 13)]
    # lean after a counted pass whose next is counted too (3 is counted but 4 is not: the mode stays)
    lean = [n for n, on, _ in states if on]
    assert lean == [6, 7, 10, 11, 12]
    assert all(on != mode for _, on, mode in states)  # lean exactly when our mode is off the stack
    for p in got:
        if isinstance(p, Pass):
            g = p.graph
            assert not g.graph.get("capture_error")
            lines = [a.get("source") for _, a in g.nodes(data=True) if a.get("kind") == "op"]
            assert lines and all("test_lean.py:" in str(s) for s in lines)
            assert g.graph["modules"]
    counted = [x for x in got if isinstance(x, Counted)]
    assert [c.index for c in counted] == [3, 5, 6, 7, 9, 10, 11, 12]
    assert all(c.api == "Tensor.backward" and c.call_site.endswith(counted[0].call_site) for c in counted)
    assert len({c.call_site for c in counted}) == 1
    assert torch.autograd._engine_run_backward is ENGINE and not _ours()


def test_a_users_backward_wrapper_runs_once_lean_or_not() -> None:
    calls: list[int] = []
    original = torch.Tensor.backward

    def wrapper(self: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return original(self, *args, **kwargs)

    torch.Tensor.backward = wrapper  # type: ignore[method-assign]
    try:
        got: list[Any] = []
        tr = graphtrace.trace(keep=False, count_only=_count_only({1, 2}), on_pass=got.append, on_counted=got.append)
        states: list[tuple[int, bool, bool]] = []
        with tr:
            model = _loop(8, tr, states)
        assert len(calls) == 8
        assert [n for n, on, _ in states if on] == [4, 5, 6, 7, 8]
        assert [type(x).__name__ for x in got] == ["Pass", "Pass"] + ["Counted"] * 6
        calls.clear()
        plain = _loop(8, None)
        assert len(calls) == 8
    finally:
        torch.Tensor.backward = original  # type: ignore[method-assign]
    for a, b in zip(model.parameters(), plain.parameters()):
        assert torch.equal(a, b)


def test_grad_and_autograd_backward_while_lean_are_counted_as_through_the_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    def run() -> tuple[list[Any], list[torch.Tensor], list[bool]]:
        got: list[Any] = []
        model, inputs, targets, opt = _mlp()
        tr = graphtrace.trace(keep=False, count_only=_count_only({1, 2}), on_pass=got.append, on_counted=got.append)
        out, lean = [], []
        with tr:
            for step in range(8):
                opt.zero_grad()
                loss = nn.functional.mse_loss(model(inputs), targets)
                lean.append(tr._lean is not None and tr._lean.on)
                if step % 2:
                    torch.autograd.backward([loss])
                else:
                    w = model[0].weight
                    (g,) = torch.autograd.grad(loss, [w])
                    w.grad = g.clone()
                out.append(model[0].weight.grad.clone())
                opt.step()
        return got, out, lean

    lean_run, lean_grads, lean_states = run()
    monkeypatch.setattr(tracer_mod, "start_lean", lambda tracer, mode: None)
    mode_run, mode_grads, mode_states = run()
    assert lean_states == [False] * 3 + [True] * 5 and not any(mode_states)
    assert all(torch.equal(a, b) for a, b in zip(lean_grads, mode_grads))
    assert [type(x).__name__ for x in lean_run] == ["Pass", "Pass"] + ["Counted"] * 6
    assert lean_run[2:] == mode_run[2:]  # the same records, call sites and apis
    apis = [x.api for x in lean_run[2:]]
    assert apis == ["torch.autograd.grad", "torch.autograd.backward"] * 3


def _lean_tracer(got: list[Any]) -> tuple[Tracer, Any]:
    """A tracer entered and made lean by two full passes of a model and two counted ones."""
    tr = graphtrace.trace(keep=False, count_only=_count_only({1, 2}), on_pass=got.append, on_counted=got.append)
    tr.__enter__()
    model, inputs, targets, opt = _mlp()
    for _ in range(4):
        opt.zero_grad()
        nn.functional.mse_loss(model(inputs), targets).backward()
        opt.step()
    assert tr._lean.on and not _ours()
    return tr, (model, inputs, targets, opt)


@pytest.fixture
def lean_trace() -> Iterator[tuple[Tracer, list[Any], Any]]:
    got: list[Any] = []
    tr, parts = _lean_tracer(got)
    try:
        yield tr, got, parts
    finally:
        tr.__exit__(None, None, None)


def test_a_new_structure_while_lean_is_recorded_in_full_and_says_its_forward_was_not(lean_trace: Any) -> None:
    tr, got, _ = lean_trace
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    y = (x * 3).sin().sum()  # made while lean
    y.backward()
    p = got[-1]
    assert isinstance(p, Pass) and p.graph.graph["capture_error"] == FORWARD_NOT_RECORDED
    ops = [a for _, a in p.graph.nodes(data=True) if a.get("kind") == "op"]
    assert ops and not any(a.get("source") for a in ops)  # no line rather than a wrong one
    assert torch.equal(x.grad, 3 * torch.cos(x.detach() * 3))
    assert not tr._lean.on and _ours()  # a full pass was asked for: the mode is back for the next
    z = (x * 2).exp().sum()
    z.backward()
    q = got[-1]
    assert isinstance(q, Pass) and not q.graph.graph.get("capture_error")
    assert all("test_lean.py" in str(a.get("source")) for _, a in q.graph.nodes(data=True) if a.get("kind") == "op")


def test_a_backward_on_another_thread_while_lean_is_not_this_traces(lean_trace: Any) -> None:
    tr, got, _ = lean_trace
    before = (tr.count, len(got))
    seen: dict[str, Any] = {}

    def other() -> None:
        x = torch.tensor(2.0, requires_grad=True)
        (x**3).backward()
        seen["grad"] = x.grad.item()

    th = threading.Thread(target=other)
    th.start()
    th.join()
    assert seen == {"grad": 12.0}
    assert (tr.count, len(got)) == before and tr._lean.on


def test_torch_func_while_lean_is_not_drawn_as_through_the_mode(lean_trace: Any) -> None:
    tr, _, _ = lean_trace
    x = torch.tensor(0.5)
    count = tr.count
    g = torch.func.grad(lambda t: torch.sin(t) * t)(x)
    assert torch.equal(g, torch.cos(x) * x + torch.sin(x))
    assert tr.count == count and tr.not_drawn == {"inside torch.func transforms": 1}


def test_a_fault_in_the_lean_wrapper_is_a_warning_and_the_plain_call(
    lean_trace: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    tr, _, (model, inputs, targets, _) = lean_trace

    def broken(*args: Any) -> Any:
        raise RuntimeError("ours")

    monkeypatch.setattr(lean_mod, "_entry_of", broken)
    count = tr.count
    plain, _, _, _ = _mlp()
    plain.load_state_dict(model.state_dict())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for m in (model, model, plain):
            m.zero_grad()
            nn.functional.mse_loss(m(inputs), targets).backward()
    assert [str(w.message) for w in caught] == ["graphtrace could not read a backward call: RuntimeError('ours')"]
    assert all(torch.equal(a.grad, b.grad) for a, b in zip(model.parameters(), plain.parameters()))
    assert tr.count == count  # not recorded; warned once per tracer


def test_the_engine_function_is_restored_at_exit_or_left_to_whoever_replaced_it() -> None:
    tr = graphtrace.trace(keep=False, count_only=_count_only(set()))
    with tr:
        ours = torch.autograd._engine_run_backward
        assert ours is not ENGINE and ours.__wrapped__ is ENGINE
    assert torch.autograd._engine_run_backward is ENGINE
    seen: list[int] = []

    tr = graphtrace.trace(keep=False, count_only=_count_only(set()))
    try:
        with tr:
            ours = torch.autograd._engine_run_backward

            def theirs(*args: Any, **kwargs: Any) -> Any:
                seen.append(1)
                return ours(*args, **kwargs)

            torch.autograd._engine_run_backward = theirs
        assert torch.autograd._engine_run_backward is theirs  # left alone; ours only calls through
        x = torch.tensor(3.0, requires_grad=True)
        (x * x).backward()
        assert x.grad.item() == 6.0 and seen == [1] and tr.count == 0
    finally:
        torch.autograd._engine_run_backward = ENGINE


@pytest.mark.usefixtures("lean_trace")
def test_the_mode_goes_back_to_its_place_below_modes_pushed_while_lean() -> None:
    class Counting(TorchFunctionMode):
        def __init__(self) -> None:
            super().__init__()
            self.calls = 0

        def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
            self.calls += 1
            return func(*args, **(kwargs or {}))

    with Counting() as user:
        x = torch.tensor([1.0, 2.0], requires_grad=True)
        (x * 3).sum().backward()  # a new structure: recorded in full, the mode comes back
        stack = _modes()
        assert stack[-1] is user and getattr(stack[-2], "graphtrace_mode", False)
    assert user.calls > 0 and _ours() and _modes()[-1] is not user


def test_batched_grads_while_lean_are_recorded_with_the_arguments_grad_was_given(lean_trace: Any) -> None:
    tr, got, _ = lean_trace
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    y = x * torch.tensor([3.0, 5.0])
    count = tr.count
    (rows,) = torch.autograd.grad(y, x, grad_outputs=torch.eye(2), is_grads_batched=True)
    assert torch.equal(rows, torch.diag(torch.tensor([3.0, 5.0])))
    p = got[-1]
    assert tr.count == count + 1 and isinstance(p, Pass)
    g = p.graph.graph
    assert g["api"] == "torch.autograd.grad" and g["capture_error"] == FORWARD_NOT_RECORDED
    assert "test_lean.py" in g["call_site"]


@pytest.mark.parametrize("compiled", [False, True])
def test_module_hooks_are_off_while_lean_unless_torch_compile_ran(
    monkeypatch: pytest.MonkeyPatch, compiled: bool
) -> None:
    monkeypatch.setattr(lean_mod, "_compiled_anything", lambda: compiled)
    got: list[Any] = []
    tr = graphtrace.trace(keep=False, count_only=_count_only({1, 2, 4, 8}), on_pass=got.append, on_counted=got.append)
    model, inputs, targets, opt = _mlp()
    hooks = torch.nn.modules.module._global_forward_pre_hooks
    seen = []
    with tr:
        for _ in range(12):
            opt.zero_grad()
            loss = nn.functional.mse_loss(model(inputs), targets)
            seen.append((tr._lean.on, bool(hooks)))
            loss.backward()
            opt.step()
    assert [on for on, _ in seen] == [n in (6, 7, 10, 11, 12) for n in range(1, 13)]
    assert [h for _, h in seen] == [compiled or not on for on, _ in seen]
    assert not hooks
    full = [p for p in got if isinstance(p, Pass)]
    assert [p.graph.graph["index"] for p in full] == [1, 2, 4, 8]
    for p in full:  # pass 8 came after the hooks were off and on again: its modules as pass 1's
        mods = {a["op"]: a.get("module") for _, a in p.graph.nodes(data=True) if a.get("kind") == "op"}
        assert mods["AddmmBackward0"] in ("0", "2") and mods["TanhBackward0"] == "1"


def _params(p: Pass) -> list[str]:
    return sorted(a["param"] for _, a in p.graph.nodes(data=True) if a.get("param"))


@pytest.mark.parametrize("loss_module", [True, False])
def test_a_new_structure_while_lean_names_parameters_as_the_recorded_passes_did(loss_module: bool) -> None:
    got: list[Any] = []
    model, inputs, targets, opt = _mlp()
    crit = nn.MSELoss() if loss_module else nn.functional.mse_loss  # a module: a second owner
    tr = graphtrace.trace(keep=False, count_only=_count_only({1, 2}), on_pass=got.append, on_counted=got.append)
    with tr:
        for step in range(5):
            opt.zero_grad()
            loss = crit(model(inputs), targets)
            if step == 4:
                assert tr._lean.on
                loss = loss * 2.0  # a new structure, made while lean
            loss.backward()
            opt.step()
    first, last = got[0], got[-1]
    assert isinstance(last, Pass) and last.graph.graph["capture_error"] == FORWARD_NOT_RECORDED
    names = ["0.bias", "0.weight", "2.bias", "2.weight"]
    assert _params(first) == _params(last) == [f"model.{n}" if loss_module else n for n in names]
    assert sorted(name for name, _, _ in got[2].grads) == _params(first)  # the counted passes' names too


def test_a_new_structure_while_lean_shows_exactly_what_its_capture_error_says(lean_trace: Any) -> None:
    _, got, _ = lean_trace
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    y = (x * 3).sin().sum()  # made while lean: the mul and sin outputs held by no variable
    y.backward()
    p = got[-1]
    assert "ops made then have no source line or module" in p.graph.graph["capture_error"]
    nodes = {a["op"]: a for _, a in p.graph.nodes(data=True)}
    assert all(not nodes[op]["source"] and not nodes[op]["module"] for op in ("MulBackward0", "SinBackward0"))
    assert nodes["MulBackward0"]["value"] is None and nodes["SinBackward0"]["value"] is None
    assert nodes["SumBackward0"]["value"]["values"] == y.item()  # held by ``y``
    assert nodes["output"]["value"]["values"] == y.item()  # the root
    assert nodes["SinBackward0"]["saved"]["self"]["values"] == [3.0, 6.0]  # the mul's output, saved
    assert nodes["AccumulateGrad"]["value"]["values"] == [1.0, 2.0]  # a leaf
