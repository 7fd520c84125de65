"""What capture must never do: change numbers, outlive the block, vary between runs, hide errors."""

from __future__ import annotations

import gc
import subprocess
import sys
import textwrap
import weakref

import pytest
import torch

import graphtrace
from graphtrace.capture import recorder as recorder_mod


def _train(traced: bool, steps: int = 3):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    data, target = torch.randn(16, 4), torch.randn(16, 1)
    losses, grads = [], []
    ctx = graphtrace.trace() if traced else None
    if ctx is not None:
        ctx.__enter__()
    try:
        for _ in range(steps):
            opt.zero_grad()
            loss = torch.nn.functional.mse_loss(model(data), target)
            loss.backward()
            losses.append(loss.detach().clone())
            grads.append([p.grad.clone() for p in model.parameters()])
            opt.step()
    finally:
        if ctx is not None:
            ctx.__exit__(None, None, None)
    return losses, grads, [p.detach().clone() for p in model.parameters()], ctx


def test_tracing_never_changes_numbers():
    plain = _train(traced=False)
    traced = _train(traced=True)
    assert len(traced[3].passes) == 3
    for a, b in zip(plain[0], traced[0]):
        assert torch.equal(a, b)
    for ga, gb in zip(plain[1], traced[1]):
        assert all(torch.equal(x, y) for x, y in zip(ga, gb))
    assert all(torch.equal(x, y) for x, y in zip(plain[2], traced[2]))


@pytest.fixture
def hook_calls(monkeypatch):
    """Counts every call of a hook graphtrace registered."""
    calls = {"n": 0}
    for name in ("_pre_hook", "_post_hook", "_acc_hook"):
        original = getattr(recorder_mod.PassRecorder, name)

        def factory(self, *args, _original=original):
            hook = _original(self, *args)

            def counted(*a):
                calls["n"] += 1
                return hook(*a)

            return counted

        monkeypatch.setattr(recorder_mod.PassRecorder, name, factory)
    return calls


def test_no_hook_outlives_its_pass(hook_calls):
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    with graphtrace.trace():
        y = (x.sin() * x).sum()
        y.backward(retain_graph=True)
    during = hook_calls["n"]
    assert during > 0
    y.backward(retain_graph=True)  # same graph, outside the block
    assert hook_calls["n"] == during
    assert not x._post_accumulate_grad_hooks


def test_no_hook_outlives_a_failing_backward(hook_calls):
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    y = (x * 2).sum()

    def boom(grad):
        raise ValueError("user hook failed")

    handle = y.grad_fn.register_prehook(lambda g: boom(g))
    with pytest.raises(ValueError, match="user hook failed"), graphtrace.trace() as t:
        y.backward(retain_graph=True)
    handle.remove()
    during = hook_calls["n"]
    y.backward()
    assert hook_calls["n"] == during
    assert t.passes[0].error == "ValueError: user hook failed"


def test_objects_kept_by_the_graph_are_freed_after_the_pass():
    class Payload:
        pass

    class Keep(torch.autograd.Function):
        @staticmethod
        def forward(ctx, a):
            ctx.payload = Payload()
            return a * 2

        @staticmethod
        def backward(ctx, g):
            return g * 2

    x = torch.tensor([1.0, 2.0], requires_grad=True)
    with graphtrace.trace() as t:
        y = Keep.apply(x).sum()
        ref = weakref.ref(y.grad_fn.next_functions[0][0].payload)
        y.backward()
        del y
    gc.collect()
    assert t.passes and ref() is None  # freed while the trace is alive
    assert any(a["op"] == "KeepBackward" for _, a in t.passes[0].graph.nodes(data=True))


def test_saved_tensors_are_freed_without_retain_graph():
    x = torch.randn(1000, requires_grad=True)
    with graphtrace.trace() as t:
        big = x.exp()  # exp saves its result for backward
        ref = weakref.ref(big)
        big.sum().backward()
        del big
    gc.collect()
    assert ref() is None and len(t.passes) == 1


def test_torch_errors_reach_the_user_unchanged_and_earlier_passes_are_kept():
    x = torch.tensor(2.0, requires_grad=True)
    y = x**2
    y.backward()
    with pytest.raises(RuntimeError) as plain:
        y.backward()
    x2 = torch.tensor(2.0, requires_grad=True)
    with graphtrace.trace() as t:
        y2 = x2**2
        y2.backward()
        with pytest.raises(RuntimeError) as traced:
            y2.backward()
    assert str(traced.value) == str(plain.value)
    assert len(t.passes) == 2 and t.passes[0].error == "" and t.passes[1].error.startswith("RuntimeError: ")


SCRIPT = textwrap.dedent(
    """
    import sys, torch, graphtrace
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1))
    x = torch.randn(5, 3)
    with graphtrace.trace() as t:
        loss = model(x).pow(2).mean()
        loss.backward()
        (g,) = torch.autograd.grad(model(x).sum(), model[0].weight)
    sys.stdout.write(t.to_json())
    """
)


def test_same_program_gives_byte_identical_json(tmp_path):
    script = tmp_path / "prog.py"
    script.write_text(SCRIPT)
    runs = [
        subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=True, cwd=tmp_path).stdout
        for _ in range(2)
    ]
    assert runs[0] == runs[1]
    assert "0x" not in runs[0] and '"AccumulateGrad"' in runs[0]
    assert graphtrace.loads(runs[0])[0].graph.number_of_nodes() > 5


def test_leaf_values_follow_updates_through_data_and_optimizers():
    w = torch.randn(100, 100, requires_grad=True)  # large: summarised, and cached per version
    opt = torch.optim.SGD([w], lr=0.1)
    with graphtrace.trace() as t:
        for update in ("data", "optimizer", "none"):
            (w * 2).sum().backward()
            norm_now = torch.linalg.vector_norm(w.detach()).item()
            if update == "data":
                w.data -= 0.1 * w.grad  # bypasses the version counter
            elif update == "optimizer":
                opt.step()
            w.grad = None
            assert t.passes[-1].node("w")["value"]["norm"] == pytest.approx(norm_now, rel=1e-6)
    norms = [p.node("w")["value"]["norm"] for p in t.passes]
    assert norms[0] != norms[1] != norms[2]


def test_a_recording_failure_warns_and_never_replaces_the_users_result(monkeypatch):
    def broken(self, *args, **kwargs):
        raise RuntimeError("recording broke")

    monkeypatch.setattr(recorder_mod.PassRecorder, "finish", broken)
    x = torch.tensor(3.0, requires_grad=True)
    with graphtrace.trace() as t, pytest.warns(UserWarning, match="could not record pass 1"):
        (g,) = torch.autograd.grad(x**2, x)
    assert g.item() == 6.0 and t.passes == []
