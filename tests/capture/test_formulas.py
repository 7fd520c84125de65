"""Backward rules from derivatives.yaml, the values nodes saved, and the code line of each op."""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest
import torch
import torch.utils.checkpoint

import graphtrace
from graphtrace.capture import formulas


def ops(p, op):
    return [a for _, a in p.graph.nodes(data=True) if a["op"] == op]


@pytest.mark.slow
def test_class_names_and_formulas_match_torchgens_own_loader():
    from torchgen.packaged.autograd.load_derivatives import load_derivatives

    base = os.path.dirname(formulas.derivatives_path().parent)
    infos, _ = load_derivatives(
        str(formulas.derivatives_path()), f"{base}/ATen/native/native_functions.yaml", f"{base}/ATen/native/tags.yaml"
    )
    reference = {}
    for per_key in infos.values():
        for info in per_key.values():
            if info.op:
                reference[info.op] = {name: d.original_formula for d in info.derivatives for name in d.var_names}
    assert len(reference) > 600
    mine = {op: formulas.lookup(op) for op in reference}
    assert {op: e["formula"] if e else None for op, e in mine.items()} == reference
    assert formulas.lookup("PowBackward0")["schema"].startswith("pow.Tensor_Scalar(")  # overloads by file order
    assert formulas.lookup("PowBackward1")["schema"].startswith("pow.Tensor_Tensor(")


def test_seed000_nodes_carry_their_rule_saved_values_and_code():
    x = torch.tensor(7.0, requires_grad=True)
    with graphtrace.trace() as t:
        y = x**3 + 4  # 347
        z = torch.sin(y)
        z.backward()
    (p,) = t.passes
    (sin,), (pow_,) = ops(p, "SinBackward0"), ops(p, "PowBackward0")
    assert sin["formula"] == {"self": "grad * self.cos().conj()"}
    assert sin["saved"]["self"]["values"] == 347.0
    assert math.cos(sin["saved"]["self"]["values"]) == pytest.approx(0.14547, abs=1e-5)
    assert pow_["formula"] == {"self": "pow_backward(grad, self, exponent)"}
    assert (pow_["saved"]["self"]["values"], pow_["saved"]["exponent"]["values"]) == (7.0, 3)
    assert sin["code"] == "z = torch.sin(y)" and pow_["code"] == "y = x**3 + 4"  # no comment
    add = ops(p, "AddBackward0")[0]
    assert list(add["formula"]) == ["self", "other"] and add["saved"]["alpha"]["values"] == 1
    assert [e["inputs"] for u, _, e in p.graph.edges(data=True) if u == 1] == [["self"]]


def test_two_input_edges_name_the_input_they_feed():
    u = torch.tensor(1.0, requires_grad=True)
    v = torch.tensor(2.0, requires_grad=True)
    with graphtrace.trace() as t:
        (u * v).backward()
    g = t.passes[0].graph
    mul = next(n for n, a in g.nodes(data=True) if a["op"] == "MulBackward0")
    feeds = {g.nodes[w]["name"]: e["inputs"] for _, w, e in g.out_edges(mul, data=True)}
    assert feeds == {"u": ["self"], "v": ["other"]}
    assert {k: r["values"] for k, r in g.nodes[mul]["saved"].items()} == {"other": 2.0, "self": 1.0}


def test_saved_tensors_behind_hooks_are_never_unpacked():
    calls = []

    def run(traced: bool) -> torch.Tensor:
        a = torch.tensor([2.0, 3.0], requires_grad=True)
        with torch.autograd.graph.saved_tensors_hooks(
            lambda t: calls.append("pack") or t, lambda t: calls.append("unpack") or t
        ):
            b = torch.sin(a) * a
        if traced:
            with graphtrace.trace(jacobians=False) as t:
                b.sum().backward()
            sin = ops(t.passes[0], "SinBackward0")[0]
            assert sin["saved"] == {"self": None} and sin["formula"] == {"self": "grad * self.cos().conj()"}
        else:
            b.sum().backward()
        return a.grad

    plain = run(False)
    plain_calls, calls[:] = list(calls), []
    assert torch.equal(run(True), plain)
    assert calls == plain_calls  # graphtrace's reading of saved values called no unpack hook


def test_checkpointed_nodes_are_not_recomputed_to_read_their_saved_values():
    runs = []

    def block(w):
        runs.append(1)
        return torch.cos(w) * w

    w = torch.tensor([3.0, 4.0], requires_grad=True)
    with graphtrace.trace(jacobians=False) as t:
        torch.utils.checkpoint.checkpoint(block, w, use_reentrant=False).sum().backward()
    assert len(runs) == 2  # the forward, and the recomputation of backward itself; none of ours
    mul = ops(t.passes[0], "MulBackward0")[0]
    assert mul["saved"] == {"other": None, "self": None}


def test_custom_function_shows_where_its_backward_is():
    class Double(torch.autograd.Function):
        @staticmethod
        def forward(ctx, a):
            return a * 2

        @staticmethod
        def backward(ctx, g):
            return g * 2

    x = torch.tensor(1.5, requires_grad=True)
    with graphtrace.trace() as t:
        Double.apply(x).backward()
    node = ops(t.passes[0], "DoubleBackward")[0]
    lines = Path(__file__).read_text().splitlines()
    line = next(i for i, text in enumerate(lines, 1) if "def backward(ctx, g):" in text)
    assert node["backward_source"] == f"tests/capture/test_formulas.py:{line}"
    assert node["formula"] == {} and node["saved"] == {}


def test_without_values_no_saved_value_is_read():
    x = torch.tensor(7.0, requires_grad=True)
    with graphtrace.trace(values=False) as t:
        torch.sin(x).backward()
    sin = ops(t.passes[0], "SinBackward0")[0]
    assert sin["saved"] == {} and sin["formula"] == {"self": "grad * self.cos().conj()"}


def test_an_optional_tensor_not_given_reads_none_not_hidden_behind_a_hook() -> None:
    """nll_loss saves its optional ``weight`` as undefined: that is None, not a tensor behind a saved-tensor hook."""
    from graphtrace.render._rules import _value

    logits = torch.tensor([[0.2, -1.0, 3.0]], requires_grad=True)
    with graphtrace.trace() as t:
        torch.nn.functional.cross_entropy(logits, torch.tensor([2])).backward()
    nll = next(a for _, a in t.passes[0].graph.nodes(data=True) if a["op"] == "NllLossBackward0")
    assert nll["saved"]["weight"] == {"shape": [], "dtype": "None", "numel": 0, "values": None}
    assert nll["saved"]["target"]["values"] == [2]
    assert _value(nll["saved"]["weight"], False) == "None"
    assert _value(None, False) == "not read (behind a saved-tensor hook)"
