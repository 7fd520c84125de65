"""No hook, reference or memory outlives a trace() block: checked by counting and weakrefs."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
import weakref
from pathlib import Path

import pytest
import torch
import torch.nn.modules.module as nn_module

import graphtrace
from graphtrace.capture.recorder import PassRecorder

HERE = Path(__file__).parent


@pytest.fixture
def hook_calls(monkeypatch: pytest.MonkeyPatch) -> dict:
    """Counts every call of every hook a PassRecorder makes, and keeps weakrefs to recorders."""
    seen = {"calls": 0, "recorders": []}

    def counting(factory_name: str) -> None:
        original = getattr(PassRecorder, factory_name)

        def factory(self: PassRecorder, *args: object) -> object:
            hook = original(self, *args)

            def counted(*a: object) -> object:
                seen["calls"] += 1
                return hook(*a)

            return counted

        monkeypatch.setattr(PassRecorder, factory_name, factory)

    for name in ("_pre_hook", "_post_hook", "_acc_hook"):
        counting(name)
    init = PassRecorder.__init__

    def tracked_init(self: PassRecorder, *a: object, **k: object) -> None:
        seen["recorders"].append(weakref.ref(self))
        init(self, *a, **k)

    monkeypatch.setattr(PassRecorder, "__init__", tracked_init)
    return seen


def _global_state() -> tuple:
    return (
        torch._C._len_torch_function_stack(),
        len(nn_module._global_forward_hooks),
        len(nn_module._global_forward_pre_hooks),
    )


def _assert_nothing_left(x: torch.Tensor, loss: torch.Tensor, seen: dict, state: tuple) -> None:
    assert _global_state() == state, "a mode or a global module hook outlived the block"
    assert not x._post_accumulate_grad_hooks, x._post_accumulate_grad_hooks
    gc.collect()
    assert all(r() is None for r in seen["recorders"]), "a PassRecorder is still referenced (by a hook?)"
    before = seen["calls"]
    loss.backward()  # the retained graph, run again outside the block
    assert seen["calls"] == before, "one of our hooks ran after trace() exited"


def _model_and_loss(x: torch.Tensor) -> tuple[torch.nn.Module, torch.Tensor]:
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))
    return model, model(x * x).sum()


def test_no_hook_left_after_the_block_returns(hook_calls: dict) -> None:
    state = _global_state()
    x = torch.randn(2, 3, requires_grad=True)
    with graphtrace.trace() as t:
        _model, loss = _model_and_loss(x)
        loss.backward(retain_graph=True)
    assert hook_calls["calls"] > 10 and len(t.passes) == 1  # the hooks did run inside
    _assert_nothing_left(x, loss, hook_calls, state)


def test_no_hook_left_after_the_body_raises(hook_calls: dict) -> None:
    state = _global_state()
    x = torch.randn(2, 3, requires_grad=True)
    with pytest.raises(ZeroDivisionError), graphtrace.trace() as t:
        _model, loss = _model_and_loss(x)
        loss.backward(retain_graph=True)
        raise ZeroDivisionError("the body fails after the backward")
    assert len(t.passes) == 1
    _assert_nothing_left(x, loss, hook_calls, state)


def test_no_hook_left_after_the_backward_raises(hook_calls: dict) -> None:
    state = _global_state()
    x = torch.randn(2, 3, requires_grad=True)
    _model, loss = _model_and_loss(x)
    handle = x.register_hook(lambda g: (_ for _ in ()).throw(ValueError("boom")))
    with pytest.raises(ValueError, match="boom"), graphtrace.trace() as t:
        loss.backward(retain_graph=True)
    handle.remove()
    assert t.passes[0].error == "ValueError: boom"
    _assert_nothing_left(x, loss, hook_calls, state)


def test_no_hook_left_after_keyboard_interrupt(hook_calls: dict) -> None:
    state = _global_state()
    x = torch.randn(2, 3, requires_grad=True)
    _model, loss = _model_and_loss(x)

    def interrupt(g: torch.Tensor) -> None:
        raise KeyboardInterrupt

    handle = x.register_hook(interrupt)
    with pytest.raises(KeyboardInterrupt), graphtrace.trace():
        loss.backward(retain_graph=True)
    handle.remove()
    _assert_nothing_left(x, loss, hook_calls, state)


class _Payload:
    """An object stored on a custom Function's ctx; its lifetime tells when ctx is freed."""


class _Keep(torch.autograd.Function):
    @staticmethod
    def forward(ctx: object, x: torch.Tensor, payload: _Payload) -> torch.Tensor:
        ctx.payload = payload
        return x * 2

    @staticmethod
    def backward(ctx: object, g: torch.Tensor) -> tuple:
        return g * 2, None


def _ctx_lifetime(traced: bool) -> tuple[bool, bool, bool]:
    """Whether the ctx payload is alive after forward, after backward (loss held), after del loss."""
    x = torch.randn(3, requires_grad=True)
    payload = _Payload()
    ref = weakref.ref(payload)
    tracer = graphtrace.trace() if traced else None
    if tracer is not None:
        tracer.__enter__()
    try:
        loss = _Keep.apply(x, payload).sin().sum()
        del payload
        alive_after_forward = ref() is not None
        loss.backward()
        alive_after_backward = ref() is not None
        del loss
        gc.collect()
        return alive_after_forward, alive_after_backward, ref() is not None  # trace still active
    finally:
        if tracer is not None:
            tracer.__exit__(None, None, None)


def test_custom_function_ctx_is_freed_as_without_tracing() -> None:
    """The graph (grad_fns and ctx) is freed when torch frees it, while the trace is alive."""
    assert _ctx_lifetime(traced=False) == _ctx_lifetime(traced=True) == (True, True, False)
    x = torch.randn(3, requires_grad=True)
    payload = _Payload()
    ref = weakref.ref(payload)
    with graphtrace.trace() as t:
        y = _Keep.apply(x, payload).sin()
        del payload
        y.sum().backward()
    assert ref() is not None  # y still holds its graph, as without tracing
    del y
    gc.collect()
    assert ref() is None
    assert len(t.passes) == 1 and t.passes[0].graph.number_of_nodes() == 5


def test_big_saved_tensor_is_freed_after_backward() -> None:
    """A tensor saved for backward is released by the pass itself (no retain_graph)."""
    x = torch.randn(1000, 1000, requires_grad=True)
    with graphtrace.trace() as t:
        big = torch.randn(1000, 1000)
        ref = weakref.ref(big)
        loss = (x * big).sum()  # MulBackward0 saves big
        del big
        assert ref() is not None  # held by the graph
        loss.backward()
        assert ref() is None, "the saved tensor outlived its backward pass"
    assert loss.grad_fn is not None  # the graph object is alive, its buffers are not
    assert [a["op"] for _, a in t.passes[0].graph.nodes(data=True)] == [
        "output",
        "SumBackward0",
        "MulBackward0",
        "AccumulateGrad",
    ]


def _plain(value: object, path: str = "pass") -> None:
    """Every attribute is plain JSON data (no tensor, no autograd node)."""
    if isinstance(value, dict):
        for k, v in value.items():
            assert isinstance(k, (str, int)), f"{path}: key {k!r}"
            _plain(v, f"{path}.{k}")
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _plain(v, f"{path}[{i}]")
    else:
        assert value is None or isinstance(value, (str, int, float, bool)), f"{path} is a {type(value)}"


def test_trace_holds_plain_data_only() -> None:
    x = torch.randn(2, 3, requires_grad=True)
    with graphtrace.trace() as t:
        _model, loss = _model_and_loss(x)
        loss.backward()
    g = t.passes[0].graph
    _plain(dict(g.graph))
    for n, attrs in g.nodes(data=True):
        _plain(attrs, f"node {n}")
    for u, v, attrs in g.edges(data=True):
        _plain(attrs, f"edge {u}->{v}")
    referents = gc.get_referents(t) + gc.get_referents(vars(t))
    assert not any(isinstance(r, (torch.Tensor, torch.nn.Module)) for r in referents)


@pytest.mark.slow
@pytest.mark.parametrize("keep", [False, True])
def test_memory_is_flat_over_200_traced_steps(keep: bool) -> None:
    """RSS growth over 200 traced training steps is bounded (measured in a fresh process)."""
    out = subprocess.run(
        [sys.executable, str(HERE / "memory_steps.py"), "--steps", "200", "--keep", str(int(keep))],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    m = json.loads(out.stdout.strip().splitlines()[-1])
    assert m["passes"] == (200 if keep else 0) and m["streamed"] == 200
    growth = m["rss_end_mb"] - m["rss_warm_mb"]  # from step 20 to step 200
    if keep:  # passes are plain data: growth is about their size, no graph or tensor kept
        assert growth < 3 * m["json_mb"] + 8, m
    else:
        assert growth < 4, m
