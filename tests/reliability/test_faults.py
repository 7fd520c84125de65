"""Faults in user code, interrupts, threads, nesting, anomaly mode: the user's run is unchanged."""

from __future__ import annotations

import threading

import pytest
import torch

import graphtrace
from graphtrace import GraphtraceError

from .programs import bit_equal


class Boom(Exception):
    """A user's own exception type."""


def _leaf() -> torch.Tensor:
    return torch.tensor([0.5, -1.0, 2.0], requires_grad=True)


def _raising_hook(err: BaseException):
    def hook(g: torch.Tensor) -> None:
        raise err

    return hook


class _FailingBackward(torch.autograd.Function):
    err: BaseException = Boom("backward failed")

    @staticmethod
    def forward(ctx: object, x: torch.Tensor) -> torch.Tensor:
        return x * 2

    @staticmethod
    def backward(ctx: object, g: torch.Tensor) -> torch.Tensor:
        raise _FailingBackward.err


def _plain_error(make_loss, setup=None) -> BaseException:
    x = _leaf()
    if setup:
        setup(x)
    try:
        make_loss(x).backward()
    except BaseException as exc:
        return exc
    raise AssertionError("the plain run did not raise")


@pytest.mark.parametrize("where", ["tensor hook", "custom Function backward"])
def test_user_exception_reaches_the_user_unchanged(where: str) -> None:
    err = Boom("the user's message")
    if where == "tensor hook":

        def setup(x: torch.Tensor) -> object:
            return x.register_hook(_raising_hook(err))

        def make_loss(x: torch.Tensor) -> torch.Tensor:
            return (x * x).sum()
    else:
        _FailingBackward.err = err
        setup = None

        def make_loss(x: torch.Tensor) -> torch.Tensor:
            return _FailingBackward.apply(x).sum()

    plain = _plain_error(make_loss, setup)
    x = _leaf()
    with graphtrace.trace() as t:
        (x * 3).sum().backward()  # an earlier, good pass
        first = t.passes[0].to_json()
        handle = setup(x) if setup else None
        with pytest.raises(Boom) as caught:
            make_loss(x).backward()
        if handle is not None:
            handle.remove()
        (x * 4).sum().backward()  # recording goes on after the fault
    assert caught.value is err and plain is err
    assert type(caught.value) is type(plain) and str(caught.value) == str(plain) == "the user's message"
    assert len(t.passes) == 3 and t.passes[0].to_json() == first
    assert t.passes[1].error == "Boom: the user's message"
    assert t.passes[2].error == "" and t.passes[2].graph.graph["index"] == 3
    graphtrace.loads(t.to_json())  # the partial pass is valid data


def test_keyboard_interrupt_in_a_hook_propagates_and_passes_are_kept() -> None:
    x = _leaf()
    with pytest.raises(KeyboardInterrupt), graphtrace.trace() as t:
        (x * 3).sum().backward()
        x.register_hook(_raising_hook(KeyboardInterrupt()))
        (x * x).sum().backward()
    assert [p.error for p in t.passes] == ["", "KeyboardInterrupt"]
    assert x.grad.tolist() == [3.0, 3.0, 3.0]  # the interrupted pass accumulated nothing
    leaf = next(a for _, a in t.passes[0].graph.nodes(data=True) if a["kind"] == "leaf")
    assert leaf["grad_after"]["values"] == [3.0, 3.0, 3.0]


def test_backward_in_another_thread_is_not_traced_and_harmless() -> None:
    """TorchFunctionMode is per thread: a backward started by another thread is not recorded."""
    x, ref = _leaf(), _leaf()
    (ref * ref.sin()).sum().backward()
    errors: list[BaseException] = []

    def worker(loss: torch.Tensor) -> None:
        try:
            loss.backward()
        except BaseException as exc:
            errors.append(exc)

    with graphtrace.trace() as t:
        loss = (x * x.sin()).sum()
        th = threading.Thread(target=worker, args=(loss,))
        th.start()
        th.join()
        y = torch.tensor([7.0], requires_grad=True)
        (y * 2).sum().backward()  # the block's own thread is still traced
    assert not errors
    assert bit_equal(x.grad, ref.grad)
    assert len(t.passes) == 1
    leaf = next(a for _, a in t.passes[0].graph.nodes(data=True) if a["kind"] == "leaf")
    assert leaf["name"] == "y" and leaf["value"]["values"] == [7.0]


def test_traces_in_two_threads_at_once_record_only_their_own() -> None:
    results: dict[int, object] = {}
    barrier = threading.Barrier(2)

    def worker(k: int) -> None:
        x = torch.full((3,), float(k + 1), requires_grad=True)
        with graphtrace.trace() as t:
            for _ in range(20):
                barrier.wait()
                (x * (k + 2)).sum().backward()
        results[k] = (t, x.grad.clone())

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    for k in range(2):
        t, grad = results[k]
        assert len(t.passes) == 20 and grad.tolist() == [20.0 * (k + 2)] * 3
        for i, p in enumerate(t.passes):
            leaf = next(a for _, a in p.graph.nodes(data=True) if a["kind"] == "leaf")
            assert leaf["grad_after"]["values"] == [float((i + 1) * (k + 2))] * 3
            assert leaf["value"]["values"] == [float(k + 1)] * 3


def test_nested_traces_both_record_the_inner_pass() -> None:
    """Documented (docs/semantics.md): each active trace records every backward of its thread."""
    x = _leaf()
    with graphtrace.trace() as outer:
        (x * 2).sum().backward()
        with graphtrace.trace(value_limit=1) as inner:
            (x * x).sum().backward()
        (x * 5).sum().backward()
    assert x.grad.tolist() == [8.0, 5.0, 11.0]
    assert [p.index for p in outer] == [1, 2, 3] and [p.index for p in inner] == [1]
    assert outer.passes[1].graph.graph["signature"] == inner.passes[0].graph.graph["signature"]
    assert inner.passes[0].graph.graph["value_limit"] == 1  # each with its own options
    leaf_in = next(a for _, a in inner.passes[0].graph.nodes(data=True) if a["kind"] == "leaf")
    leaf_out = next(a for _, a in outer.passes[1].graph.nodes(data=True) if a["kind"] == "leaf")
    assert leaf_out["grad_in"][0]["values"] == [1.0, -2.0, 4.0]
    assert leaf_in["grad_in"][0]["values"] is None and leaf_in["grad_in"][0]["max"] == 4.0


def test_two_traces_in_a_row_are_independent_and_a_trace_cannot_nest_in_itself() -> None:
    x = _leaf()
    first = graphtrace.trace()
    with first as a:
        (x * 2).sum().backward()
    second = graphtrace.trace()
    with second as b:
        (x * 3).sum().backward()
        with pytest.raises(GraphtraceError, match="already active"):
            second.__enter__()
        (x * 3).sum().backward()
    assert len(a) == 1 and len(b) == 2 and [p.index for p in b] == [1, 2]
    assert not hasattr(a, "__enter__")  # what the block yields is the recorded data, not a recorder
    with first as again:  # a finished tracer can be entered again: its passes are appended
        (x * 4).sum().backward()
    assert again is a and [p.index for p in a] == [1, 2]
    assert x.grad.tolist() == [2.0 + 3.0 + 3.0 + 4.0] * 3


def test_anomaly_mode_on() -> None:
    x, ref = _leaf(), _leaf()

    def loss(v: torch.Tensor) -> torch.Tensor:
        return (v.sin() * v).sum()

    with torch.autograd.set_detect_anomaly(True):
        loss(ref).backward()
        with graphtrace.trace() as t:
            loss(x).backward()
    assert bit_equal(x.grad, ref.grad) and len(t.passes) == 1 and t.passes[0].error == ""


def test_anomaly_mode_error_reaches_the_user_and_the_pass_is_kept() -> None:
    x = torch.tensor([0.0, 1.0], requires_grad=True)
    with torch.autograd.set_detect_anomaly(True), pytest.warns(UserWarning), pytest.raises(RuntimeError) as plain:
        (x.sqrt() * 0).sum().backward()
    y = torch.tensor([0.0, 1.0], requires_grad=True)
    with (
        torch.autograd.set_detect_anomaly(True),
        pytest.warns(UserWarning),
        graphtrace.trace() as t,
        pytest.raises(RuntimeError) as traced,
    ):
        (y.sqrt() * 0).sum().backward()
    assert str(traced.value) == str(plain.value) and "returned nan values" in str(plain.value)
    assert t.passes[0].error.startswith("RuntimeError: Function 'SqrtBackward0' returned nan")


def test_inplace_change_after_the_pass_leaves_the_pass_alone() -> None:
    x = _leaf()
    with graphtrace.trace() as t:
        y = x * 2
        loss = (y * y).sum()
        loss.backward(retain_graph=True)
        recorded = t.passes[0].to_json()
        with torch.no_grad():
            x.grad.zero_()  # the user's .grad, changed in place
            y.add_(1)  # a tensor saved by the graph, changed in place
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            loss.backward()
    assert t.passes[0].to_json() == recorded  # records are copies
    assert t.passes[1].error.startswith("RuntimeError: one of the variables needed")
    leaf = next(a for _, a in t.passes[0].graph.nodes(data=True) if a["kind"] == "leaf")
    assert leaf["grad_after"]["values"] == [4.0, -8.0, 16.0]


@pytest.mark.parametrize("api", ["jacobian", "hessian"])
def test_vectorized_functional_api(api: str) -> None:
    """is_grads_batched backward calls are recorded without values and change nothing."""
    fn = getattr(torch.autograd.functional, api)

    def f(v: torch.Tensor) -> torch.Tensor:
        return (v.sin() * v).sum() if api == "hessian" else v.sin() * v

    x = torch.tensor([0.3, -1.2, 2.0])
    plain = fn(f, x, vectorize=True)
    with graphtrace.trace() as t:
        traced = fn(f, x, vectorize=True)
    assert bit_equal(plain, traced)
    assert all(p.graph.graph["caller"] == f"torch.autograd.functional.{api}" for p in t.passes)
    assert all(p.error == "" and p.graph.graph["kind"] == "grad" for p in t.passes)
    *plain_passes, batched = t.passes
    assert len(plain_passes) == (1 if api == "hessian" else 0)  # hessian: df/dx first, then its Jacobian
    ops = [a["op"] for _, a in batched.graph.nodes(data=True)]
    assert {"SinBackward0", "MulBackward0"} <= set(ops) and ops.count("AccumulateGrad") == 1
    assert ("CosBackward0" in ops) == (api == "hessian")  # the second derivative runs through cos
    assert batched.graph.graph["value_limit"] == 0  # batched: the graph, without values
    assert all(a["value"] is None and a["grad_in"] in ([None], []) for _, a in batched.graph.nodes(data=True))
    assert batched.graph.graph["steps"] == sum(a["step"] is not None for _, a in batched.graph.nodes(data=True)) - 1
    if api == "hessian":  # the first pass has its numbers: df/dx = sin(x) + x cos(x), torch's own
        first = plain_passes[0].graph
        returned = next(a["returned_grad"]["values"] for _, a in first.nodes(data=True) if a.get("returned_grad"))
        xr = x.clone().requires_grad_()
        (ref,) = torch.autograd.grad(f(xr), xr)
        assert returned == ref.tolist() == pytest.approx([0.582121, -1.366868, 0.077004], abs=1e-6)
        root = next(a for _, a in first.nodes(data=True) if a["kind"] == "root")
        assert root["value"]["values"] == f(x).item()
    graphtrace.loads(t.to_json())


def test_parameter_data_replaced_between_passes_is_recorded_afresh() -> None:
    """Regression: leaf value records are cached per tensor version, but ``p.data = ...``
    keeps the version counter, so the second pass showed the old weights."""
    p = torch.nn.Parameter(torch.ones(3))
    with graphtrace.trace() as t:
        (p * 2).sum().backward()
        p.data = torch.zeros(3)
        (p * 2).sum().backward()
    values = [next(a for _, a in q.graph.nodes(data=True) if a["kind"] == "leaf")["value"]["values"] for q in t.passes]
    assert values == [[1.0, 1.0, 1.0], [0.0, 0.0, 0.0]]


def _leaf_value(p: graphtrace.Pass) -> dict:
    return next(a for _, a in p.graph.nodes(data=True) if a["kind"] == "leaf")["value"]


def test_a_partial_data_write_between_passes_is_recorded() -> None:
    """``w.data[0, 1] += 1000`` moves neither the version counter nor a sampled element: the second
    pass shows the new value in full (the summarised case: tests/capture/test_reuse.py)."""
    w = torch.nn.Parameter(torch.ones(8, 8))
    with graphtrace.trace() as t:
        (w * 2).sum().backward()
        w.data[0, 1] += 1000
        (w * 2).sum().backward()
    before, after = map(_leaf_value, t.passes)
    assert before["values"][0][1] == 1.0 and after["values"][0][1] == 1001.0 and after["max"] == 1001.0


def test_the_users_locals_are_untouched() -> None:
    def user_code() -> dict:
        x = torch.tensor([1.0, 2.0], requires_grad=True)
        scope = locals()  # the frame's own dict before 3.13: what the user holds
        (x * 3).sum().backward()
        return dict(scope)

    plain = user_code()
    with graphtrace.trace() as t:
        traced = user_code()
    assert len(t.passes) == 1 and list(plain) == ["x"]
    assert list(traced) == list(plain) and torch.equal(traced["x"], torch.tensor([1.0, 2.0]))
