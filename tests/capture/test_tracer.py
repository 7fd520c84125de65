"""A fault of ours at any stage of a pass: one warning and the plain call, the user's numbers unchanged."""

from __future__ import annotations

import warnings

import pytest
import torch

import graphtrace
from graphtrace.capture import frames as frames_mod
from graphtrace.capture import provenance as provenance_mod
from graphtrace.capture import recorder as recorder_mod
from graphtrace.capture import tracer as tracer_mod


class Injected(Exception):
    """The fault we inject into graphtrace."""


def _raise(*args, **kwargs):
    raise Injected("injected fault")


def _register_then_fail(self) -> None:
    real_register(self)  # hooks are on the graph when the fault comes
    raise Injected("injected fault")


real_register = recorder_mod.PassRecorder.register

# (module or class, attribute, replacement): every step of a pass outside the hooks themselves
STAGES = [
    (tracer_mod, "user_call", _raise),
    (tracer_mod, "_call", _raise),
    (tracer_mod, "where", _raise),
    (tracer_mod, "Names", _raise),
    (frames_mod.Names, "add_params", _raise),
    (recorder_mod, "walk", _raise),
    (recorder_mod.PassRecorder, "_build_nodes", _raise),
    (recorder_mod.PassRecorder, "register", _raise),
    (recorder_mod.PassRecorder, "register", _register_then_fail),
    (recorder_mod.PassRecorder, "finish", _raise),
    (recorder_mod.PassRecorder, "_to_pass", _raise),
    (tracer_mod.Tracer, "_store", _raise),
]


def _program(api: str) -> torch.Tensor:
    """dz/dx of sin(x**3 + 4) at x = 7 (21.384121), through ``api``."""
    x = torch.tensor(7.0, requires_grad=True)
    lin = torch.nn.Linear(1, 1)
    with torch.no_grad():
        lin.weight.fill_(1.0)
        lin.bias.zero_()
    z = torch.sin(lin(x.reshape(1, 1)) ** 3 + 4).sum()
    if api == "grad":
        return torch.autograd.grad(z, x)[0]
    z.backward()
    return x.grad


@pytest.mark.parametrize("api", ["backward", "grad"])
@pytest.mark.parametrize(
    "owner, name, fault",
    STAGES,
    ids=[f"{getattr(o, '__name__', o)}.{n}{'-after-hooks' if f is _register_then_fail else ''}" for o, n, f in STAGES],
)
def test_a_fault_at_any_stage_gives_one_warning_and_the_plain_call(owner, name, fault, api, monkeypatch) -> None:
    plain = _program(api)
    monkeypatch.setattr(owner, name, fault)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with graphtrace.trace() as t:
            traced = _program(api)
        traced_again = _program(api)  # no hook of ours is left on anything
    ours = [w for w in caught if "graphtrace" in str(w.message)]
    assert len(ours) == 1, [str(w.message) for w in caught]
    assert "could not record pass 1" in str(ours[0].message) and "injected fault" in str(ours[0].message)
    assert torch.equal(traced, plain) and traced.item() == pytest.approx(21.384121)
    assert torch.equal(traced_again, plain)
    assert t.passes == []


# (module or class, attribute, the warning's words, passes recorded): stages outside a pass
OUTSIDE = [
    (tracer_mod, "resolve", "could not read a torch call", 0),  # every torch call of the block
    (tracer_mod.Doors, "of", "could not read a torch call", 0),
    (tracer_mod, "sweep", "could not start tracing", 0),  # entering the block
    (provenance_mod.ModuleStack, "_owner_name", None, 1),  # the global module hooks: no warning
]


@pytest.mark.parametrize("api", ["backward", "grad"])
@pytest.mark.parametrize("owner, name, words, passes", OUTSIDE, ids=[f"{o.__name__}.{n}" for o, n, _, _ in OUTSIDE])
def test_a_fault_outside_a_pass_gives_at_most_one_warning_and_the_plain_program(
    owner, name, words, passes, api, monkeypatch
) -> None:
    plain = _program(api)
    monkeypatch.setattr(owner, name, _raise)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with graphtrace.trace() as t:
            traced = _program(api)
            traced_twice = _program(api)
    monkeypatch.undo()
    ours = [str(w.message) for w in caught if "graphtrace" in str(w.message)]
    assert ours == ([] if words is None else [ours[0]]) and all(words in m and "injected" in m for m in ours)
    assert torch.equal(traced, plain) and torch.equal(traced_twice, plain) and traced.item() == pytest.approx(21.384121)
    assert len(t.passes) == 2 * passes
    assert torch._C._len_torch_function_stack() == 0 and not torch.nn.modules.module._global_forward_pre_hooks


def test_a_fault_of_ours_under_a_warnings_error_filter_stays_a_warning(monkeypatch) -> None:
    plain = _program("backward")
    monkeypatch.setattr(recorder_mod, "walk", _raise)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # as a script or pytest -W error may set it
        with graphtrace.trace() as t:
            traced = _program("backward")
    assert torch.equal(traced, plain) and t.passes == []


def test_a_fault_inside_a_hook_keeps_the_numbers_and_marks_the_pass(monkeypatch) -> None:
    plain = _program("backward")
    monkeypatch.setattr(recorder_mod.PassRecorder, "_record_edges", _raise)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with graphtrace.trace() as t:
            traced = _program("backward")
    assert torch.equal(traced, plain)
    assert not [w for w in caught if "graphtrace" in str(w.message)]
    (p,) = t.passes
    assert "injected fault" in p.graph.graph["capture_error"]


def _warnings_of(program, action: str = "always") -> list[tuple[str, int, str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter(action)
        program()
    return [(w.filename, w.lineno, str(w.message)[:30]) for w in caught]


def _torch_warns() -> None:
    x = torch.randn(2, 3, requires_grad=True)
    y = x * 2
    torch.tensor(y)  # torch's C++ warning: attributed to the innermost Python frame
    _ = y.grad  # a C++ warning from a tensor attribute
    torch.nn.functional.softmax(y)  # warns with stacklevel=3, through a helper
    torch.nn.functional.gumbel_softmax(x, eps=1e-3)  # a deprecated argument: stacklevel=2
    torch.autograd.grad(y.sum(), x, only_inputs=False)  # a backward entry point's own warning


def _same_warning_from_two_lines() -> None:
    y = torch.ones(2, requires_grad=True) * 2
    for _ in range(3):
        torch.tensor(y)
        torch.tensor(y)


def test_torchs_warnings_point_at_the_callers_lines_as_without_graphtrace() -> None:
    plain = _warnings_of(_torch_warns)
    with graphtrace.trace():
        traced = _warnings_of(_torch_warns)
    assert [m.split()[1] for _, _, m in plain] == ["copy", ".grad", "dimension", "parameter", "argument"]
    assert {f for f, _, _ in plain} == {__file__}
    assert traced == plain


def test_a_warning_is_shown_once_per_line_of_the_caller_as_without_graphtrace() -> None:
    plain = _warnings_of(_same_warning_from_two_lines, "default")
    with graphtrace.trace():
        traced = _warnings_of(_same_warning_from_two_lines, "default")
    assert len(plain) == 2 and plain[1][1] == plain[0][1] + 1  # once for each line
    assert traced == plain
