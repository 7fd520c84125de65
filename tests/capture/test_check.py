"""graphtrace.capture.check: each small node's backward against finite differences of its forward."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given

import graphtrace
from tests.reliability.programs import FUZZ, bit_equal, programs, run


class Cube(torch.autograd.Function):
    """x**3 with a backward wrong by a factor: 2x**2 where 3x**2 is right."""

    @staticmethod
    def forward(ctx, x):  # type: ignore[no-untyped-def]
        ctx.save_for_backward(x)
        return x**3

    @staticmethod
    def backward(ctx, g):  # type: ignore[no-untyped-def]
        (x,) = ctx.saved_tensors
        return g * 2 * x**2


class GoodCube(Cube):
    @staticmethod
    def backward(ctx, g):  # type: ignore[no-untyped-def]
        (x,) = ctx.saved_tensors
        return g * 3 * x**2


def _program(cube: type[torch.autograd.Function], dtype: torch.dtype = torch.float32) -> torch.Tensor:
    x = torch.tensor([1.0, 2.0, -0.5], dtype=dtype, requires_grad=True)
    w = torch.tensor([0.3, -1.2, 2.0], dtype=dtype, requires_grad=True)
    h = torch.sin(x) * w
    (cube.apply(h) + torch.tanh(h)).sum().backward()
    assert x.grad is not None and w.grad is not None
    return torch.cat([x.grad, w.grad])


def _checks(p: graphtrace.Pass) -> dict[str, dict]:
    return {a["op"]: a["check"] for _, a in p.graph.nodes(data=True) if a.get("check")}


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_a_wrong_custom_backward_is_found_and_only_it(dtype: torch.dtype) -> None:
    plain = _program(Cube, dtype)
    with graphtrace.trace(check=True) as t:
        traced = _program(Cube, dtype)
    assert torch.equal(plain, traced)  # the check never changes the user's numbers
    checks = _checks(t.passes[0])
    assert checks["CubeBackward"]["status"] == "mismatch"
    assert {op for op, c in checks.items() if c["status"] != "ok"} == {"CubeBackward"}
    assert {"SinBackward0", "MulBackward0", "TanhBackward0", "AddBackward0", "SumBackward0"} <= set(checks)
    # d(h**3)/dh = 3h**2, the backward says 2h**2: the largest error is h**2 at the largest |h|
    h = [math.sin(1.0) * 0.3, math.sin(2.0) * -1.2, math.sin(-0.5) * 2.0]
    cube = checks["CubeBackward"]
    assert cube["max_abs_error"] == pytest.approx(max(v * v for v in h), rel=1e-6)
    assert cube["analytic"][0][1][1] == pytest.approx(2 * h[1] ** 2, rel=1e-6)  # h was computed in the dtype
    assert cube["numeric"][0][1][1] == pytest.approx(3 * h[1] ** 2, rel=1e-6)
    assert cube["differs"] == [[[0, 0], [1, 1], [2, 2]]]
    assert t.passes[0].graph.graph["check"] == {"ok": 5, "mismatch": 1, "skipped": 0}


def test_the_correct_backward_passes() -> None:
    with graphtrace.trace(check=True) as t:
        _program(GoodCube)
    checks = _checks(t.passes[0])
    assert checks["GoodCubeBackward"]["status"] == "ok" and checks["GoodCubeBackward"]["max_abs_error"] < 1e-8
    assert all(c["status"] == "ok" for c in checks.values())


def test_seed000_chain_rule_checks_clean() -> None:
    x = torch.tensor(7.0, requires_grad=True)
    with graphtrace.trace(check=True) as t:
        y = x**3 + 4
        z = torch.sin(y)
        z.backward()
    assert x.grad is not None and x.grad.item() == pytest.approx(21.384121, abs=1e-5)
    checks = _checks(t.passes[0])
    assert set(checks) == {"SinBackward0", "AddBackward0", "PowBackward0"}
    assert all(c["status"] == "ok" for c in checks.values()), checks
    # float64 copies: sin'(347) = cos(347) matches its central difference to 1e-9
    assert checks["SinBackward0"]["max_abs_error"] < 1e-8


def test_kinks_and_random_ops_are_skipped_with_a_reason() -> None:
    x = torch.tensor([-1.0, 0.0, 2.0], requires_grad=True)
    v = torch.linspace(-1, 1, 40, requires_grad=True)
    with graphtrace.trace(check=True) as t:
        (torch.relu(x).sum() + torch.nn.functional.dropout(v, 0.5).sum()).backward()
    checks = _checks(t.passes[0])
    assert checks["ReluBackward0"]["status"] == "skipped"
    assert "not differentiable" in checks["ReluBackward0"]["reason"]
    random = [c for c in checks.values() if "random" in c["reason"]]
    assert len(random) == 1 and random[0]["status"] == "skipped"


def test_the_random_state_and_grads_are_as_without_the_check() -> None:
    def prog() -> tuple[torch.Tensor, torch.Tensor]:
        torch.manual_seed(0)
        v = torch.linspace(-1, 1, 30, requires_grad=True)
        torch.nn.functional.dropout(v * 2, 0.3).sum().backward()
        assert v.grad is not None
        return v.grad, torch.rand(4)  # the next random numbers the program draws

    plain = prog()
    with graphtrace.trace(check=True):
        traced = prog()
    assert torch.equal(plain[0], traced[0]) and torch.equal(plain[1], traced[1])


def test_without_check_nothing_is_checked_and_function_apply_is_untouched() -> None:
    apply = torch.autograd.Function.__dict__["apply"]
    with graphtrace.trace() as t:
        _program(Cube)
    assert all("check" not in a for _, a in t.passes[0].graph.nodes(data=True))
    assert "check" not in t.passes[0].graph.graph
    with graphtrace.trace(check=True):
        assert torch.autograd.Function.__dict__["apply"] is not apply
    assert torch.autograd.Function.__dict__["apply"] is apply


def test_the_check_survives_json() -> None:
    with graphtrace.trace(check=True) as t:
        _program(Cube)
    again = graphtrace.loads(t.passes[0].to_json()).passes[0]
    assert _checks(again)["CubeBackward"]["status"] == "mismatch"


@FUZZ
@given(programs)
def test_no_false_alarms_on_random_programs(prog) -> None:  # type: ignore[no-untyped-def]
    """Every op of the fuzz corpus passes the check (or is skipped with a reason); numbers unchanged."""
    plain = run(prog)
    traced = run(prog, lambda on_pass: graphtrace.trace(on_pass=on_pass, check=True))
    for a, b in zip(plain["states"], traced["states"]):
        assert all(bit_equal(x, y) for x, y in zip(a["grads"], b["grads"]))
    for p in traced["trace"].passes:
        bad = [
            (a["op"], a["check"])
            for _, a in p.graph.nodes(data=True)
            if a.get("check") and a["check"]["status"] == "mismatch"
        ]
        assert not bad, bad


def test_run_check_lists_the_failing_node_and_keeps_the_exit_code(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import subprocess
    import sys
    from pathlib import Path

    script = tmp_path / "wrong.py"
    script.write_text(
        "import sys, torch\n"
        "class Cube(torch.autograd.Function):\n"
        "    @staticmethod\n"
        "    def forward(ctx, x):\n"
        "        ctx.save_for_backward(x)\n"
        "        return x ** 3\n"
        "    @staticmethod\n"
        "    def backward(ctx, g):\n"
        "        (x,) = ctx.saved_tensors\n"
        "        return g * 2 * x ** 2\n"
        "x = torch.tensor([1.0, 2.0], requires_grad=True)\n"
        "Cube.apply(torch.sin(x)).sum().backward()\n"
        "print(x.grad.tolist())\n"
        "sys.exit(3)\n"
    )
    graphtrace_cmd = str(Path(sys.executable).with_name("graphtrace"))
    plain = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path)
    traced = subprocess.run(
        [graphtrace_cmd, "run", "--check", "-o", "out", str(script)], capture_output=True, text=True, cwd=tmp_path
    )
    assert plain.returncode == traced.returncode == 3 and plain.stdout == traced.stdout
    assert "gradient check: 1 of 3 nodes failed (2 ok, 0 skipped)" in traced.stderr
    # Function.apply is not a call the mode sees: no forward line rather than a consumer's (NOTE [ancestor walk])
    assert "mismatch: CubeBackward in pass 1: backward wrong.py:8 (max error 0.82682)" in traced.stderr
    unchecked = subprocess.run(
        [graphtrace_cmd, "run", "-o", "out2", str(script)], capture_output=True, text=True, cwd=tmp_path
    )
    assert "gradient check" not in unchecked.stderr and unchecked.returncode == 3


@pytest.mark.parametrize(
    "example",
    [
        "seed000_chain_rule",
        "seed001_leaves_and_relu",
        "seed002_grad_vs_backward",
        "seed003_sigmoid_relu",
        "seed004_jacobian",
        "mlp_training",
    ],
)
def test_no_false_alarms_on_the_examples(example: str, capsys: pytest.CaptureFixture[str]) -> None:
    import runpy
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "examples" / f"{example}.py"
    with graphtrace.trace(check=True) as t:
        runpy.run_path(str(path), run_name="__main__")
    capsys.readouterr()
    checked = [a["check"] for p in t.passes for _, a in p.graph.nodes(data=True) if a.get("check")]
    assert checked and not [c for c in checked if c["status"] == "mismatch"]
    assert sum(c["status"] == "ok" for c in checked) >= len(checked) // 2  # most are checked, not skipped
