"""Value records: tensors that cannot be read freely (nested, subclasses, functorch wrappers); finite values
at the ends of the range summarised exactly."""

from __future__ import annotations

import json
import math
import struct
from fractions import Fraction

import pytest
import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

import graphtrace
from graphtrace.capture import values as values_mod
from graphtrace.capture.jacobian import local_from_jacobian
from graphtrace.capture.values import record, record_read


class _Logged(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.ops: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops.append(str(func))
        return func(*args, **(kwargs or {}))


def _ops_seen(traced: bool) -> list[str]:
    x = torch.ones(3, requires_grad=True)
    log = _Logged()
    if traced:
        with graphtrace.trace(), log:
            (x * 2).sum().backward()
    else:
        with log:
            (x * 2).sum().backward()
    return log.ops


def test_a_users_dispatch_mode_sees_only_the_programs_ops():
    plain = _ops_seen(traced=False)
    assert plain[:2] == ["aten.mul.Tensor", "aten.sum.default"]
    assert _ops_seen(traced=True) == plain


def test_a_strided_nested_tensor_is_recorded_without_raising():
    nt = torch.nested.nested_tensor([torch.ones(2), torch.ones(3)])
    rec = record(nt)
    assert rec["shape"] == [2] and rec["layout"] == "nested" and rec["values"] is None
    assert rec["unread"] == "nested tensor"


def test_a_jagged_nested_tensor_gives_its_sizes_up_to_the_ragged_one():
    nt = torch.nested.nested_tensor([torch.ones(2, 4), torch.ones(3, 4)], layout=torch.jagged)
    rec = record(nt)
    assert rec["shape"] == [2] and rec["layout"] == "nested" and rec["values"] is None


class _Opaque(torch.Tensor):
    """A wrapper subclass: its own __torch_dispatch__, no .tolist()."""

    calls = 0

    @staticmethod
    def __new__(cls, inner):
        return torch.Tensor._make_wrapper_subclass(cls, inner.shape, dtype=inner.dtype)

    def __init__(self, inner):
        self.inner = inner

    @classmethod
    def __torch_dispatch__(cls, func, types, args=(), kwargs=None):
        cls.calls += 1
        raise NotImplementedError(str(func))


def test_a_subclass_with_its_own_dispatch_is_named_and_never_run():
    t = _Opaque(torch.ones(2, 3))
    rec = record(t)
    assert rec["shape"] == [2, 3] and rec["dtype"] == "float32" and rec["numel"] == 6
    assert rec["values"] is None and rec["unread"] == "tensor subclass _Opaque"
    assert _Opaque.calls == 0


def test_a_functorch_wrapper_is_recorded_by_shape_and_dtype():
    seen = []
    torch.func.vmap(lambda t: seen.append(record(t)) or t)(torch.ones(4, 3))
    assert seen[0]["shape"] == [3] and seen[0]["values"] is None
    assert seen[0]["unread"] == "inside a torch.func transform"


def test_values_are_not_read_while_the_profiler_records():
    x = torch.ones(2, requires_grad=True)
    with graphtrace.trace() as t, torch.profiler.profile() as prof:
        (x * 3).sum().backward()
    names = {e.name for e in prof.events()}
    assert "aten::aminmax" not in names and "aten::linalg_vector_norm" not in names
    leaf = next(a for _, a in t.passes[0].graph.nodes(data=True) if a["kind"] == "leaf")
    assert leaf["grad_after"]["unread"] == "the profiler was recording"
    assert x.grad.tolist() == [3.0, 3.0]


@pytest.mark.parametrize(
    "values, dtype, norm, mean",
    [
        ([1e200, 2e200, 3e200], torch.float64, math.sqrt(14) * 1e200, 2e200),
        ([1e308] * 3, torch.float64, math.sqrt(3) * 1e308, 1e308),
        ([-1e308, 1e308, 1e308], torch.float64, math.sqrt(3) * 1e308, 1e308 / 3),
        ([1e-200, 2e-200], torch.float64, math.sqrt(5) * 1e-200, 1.5e-200),
        ([3e38] * 3, torch.float32, math.sqrt(3) * 3.0000000054977558e38, 3.0000000054977558e38),
    ],
)
def test_summaries_of_huge_and_tiny_values_are_finite_and_exact(values, dtype, norm, mean) -> None:
    for limit in (64, 0):  # kept in full, and summarised only
        rec = record(torch.tensor(values, dtype=dtype), limit)
        assert rec["norm"] == pytest.approx(norm, rel=1e-6) and rec["mean"] == pytest.approx(mean, rel=1e-6)
        assert rec["nan"] == 0 and rec["inf"] == 0
        json.dumps(rec, allow_nan=False)


@pytest.mark.parametrize("value, dtype", [(1e200, torch.float64), (1e30, torch.float32)])
def test_a_big_tensor_of_huge_values_is_summarised_exactly(value, dtype) -> None:
    t = torch.full((1 << 20 | 5,), value, dtype=dtype)  # float32: chunk by chunk (NOTE [chunked summaries])
    rec = record(t, 0)
    assert rec["norm"] == pytest.approx(math.sqrt(t.numel()) * value, rel=1e-6) and rec["mean"] == t[0].item()


def _block_norm(t: torch.Tensor) -> float:
    """The norm of a flat float32 tensor as norms of 65536-element blocks combined (values._norm)."""
    m = t.numel() // 65536 * 65536
    blocks = torch.linalg.vector_norm(t[:m].view(-1, 65536), dim=1)
    return torch.linalg.vector_norm(torch.cat([blocks, torch.linalg.vector_norm(t[m:]).reshape(1)])).item()


def test_a_big_tensors_norm_is_that_of_its_blocks_as_for_a_smaller_one() -> None:
    """NOTE [chunked summaries]: read chunk by chunk, the norm is the one a tensor under 1M elements
    gets (norms of 65536-element blocks combined), within 3e-7 of the exact one (it was 4e-6 away);
    min and max exact."""
    torch.manual_seed(0)
    for n in (1 << 20, (1 << 21) + 7):  # the last one whole and chunked
        t = torch.randn(n)
        rec = record(t.view(n // 7, 7) if n % 7 == 0 else t, 0)
        assert rec["norm"] == _block_norm(t)
        assert rec["norm"] == pytest.approx(torch.linalg.vector_norm(t.double()).item(), rel=3e-7)
        assert rec["min"] == t.min().item() and rec["max"] == t.max().item()
        assert rec["mean"] == pytest.approx(t.double().mean().item(), abs=1e-7)


def test_a_big_float64_tensors_norm_is_torchs_norm_of_the_whole() -> None:
    torch.manual_seed(0)
    t = torch.randn((1 << 21) + 7, dtype=torch.float64)
    rec = record(t, 0)
    assert rec["norm"] == torch.linalg.vector_norm(t).item() and rec["mean"] == t.sum().item() / t.numel()


def test_a_norm_past_the_largest_float_is_written_as_the_format_says() -> None:
    rec = record(torch.full((100,), 1e308, dtype=torch.float64), 0)
    assert rec["norm"] == "inf" and rec["mean"] == pytest.approx(1e308) and rec["max"] == 1e308
    assert rec["inf"] == 0  # no element is inf; only the norm does not fit


def test_local_derivatives_of_huge_values_are_finite() -> None:
    rec = local_from_jacobian([[1e200, 2e200, 3e200]], [3])
    assert rec is not None and rec["norm"] == pytest.approx(math.sqrt(14) * 1e200) and rec["mean"] == 2e200
    json.dumps(rec, allow_nan=False)


def test_passes_of_huge_float64_gradients_are_recorded_and_serialised() -> None:
    x = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64, requires_grad=True)
    torch.manual_seed(0)
    lin = nn.Linear(3, 2).double()
    with graphtrace.trace() as t:
        (x * 1e200).sum().backward()
        (lin(x.detach() * 1e308) * 1e-10).sum().backward()
    assert len(t.passes) == 2
    for p in t.passes:
        json.loads(p.to_json())
    assert t.passes[0].node("x")["grad_after"]["norm"] == pytest.approx(math.sqrt(3) * 1e200)


def _float32(x: float) -> float:
    return struct.unpack("f", struct.pack("f", x))[0]


def test_a_small_tensors_mean_and_norm_are_its_exact_ones_rounded() -> None:
    """NOTE [small summaries]: float32 reductions rounded as they went (9.5e-08 for this mean)."""
    t = torch.linspace(-10, 10, 10)
    for limit in (64, 0):
        rec = record(t, limit)
        assert rec["mean"] == 0.0 and rec["min"] == -10.0 and rec["max"] == 10.0
    torch.manual_seed(0)
    u = torch.randn(8, 8)
    values = [Fraction(v) for v in u.flatten().tolist()]
    rec = record(u)
    assert rec["mean"] == _float32(float(sum(values))) / 64
    assert rec["norm"] == _float32(math.sqrt(float(sum(v * v for v in values))))
    assert rec["values"] == u.tolist() and record(u, 0)["norm"] == rec["norm"]


def test_signed_zeros_at_the_ends_are_reported_as_torch_reports_them() -> None:
    for values in ([0.0, -0.0], [-0.0, 0.0, 1.0], [-1.0, 0.0, -0.0]):
        t = torch.tensor(values)
        lo, hi = torch.aminmax(t)
        rec = record(t)
        assert math.copysign(1, rec["min"]) == math.copysign(1, lo.item()) and rec["min"] == lo.item()
        assert math.copysign(1, rec["max"]) == math.copysign(1, hi.item()) and rec["max"] == hi.item()


def test_a_record_from_values_read_is_the_record_of_their_tensor() -> None:
    """NOTE [small summaries]: ``record_read`` gives ``record``'s very record (keys in order), or None."""
    torch.manual_seed(0)
    cases = [torch.randn(()), torch.randn(2, 3), torch.linspace(-10, 10, 64), torch.randn(4, 1, 16).double()]
    cases += [torch.randn(5).half(), torch.randn(3).bfloat16(), torch.tensor([-0.0, 1.0])]
    cases.append(torch.tensor([1e100, 3.0], dtype=torch.float64))
    for t in cases:
        for limit in (0, 4, 64):
            read = record_read(t.tolist(), t.dtype, limit)
            assert read is not None and json.dumps(read) == json.dumps(record(t, limit))
    for t in (torch.tensor([0.0, -0.0]), torch.tensor([math.inf, 1.0]), torch.randn(65), torch.tensor([1, 2])):
        assert record_read(t.tolist(), t.dtype, 64) is None  # torch's reductions summarise these


def test_small_forward_values_are_recorded_without_a_tensor_rebuilt(monkeypatch) -> None:
    """NOTE [lazy forward values]: a pass reads a small float forward value straight from the values kept."""
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    made: list[object] = []
    tensor = torch.tensor
    with graphtrace.trace() as t:
        y = (x * 3).sin()
        monkeypatch.setattr(torch, "tensor", lambda *a, **k: made.append(a) or tensor(*a, **k))
        y.sum().backward()
    mul = next(a for _, a in t.passes[0].graph.nodes(data=True) if a["op"] == "MulBackward0")
    assert mul["value"] == record(tensor([3.0, 6.0])) and mul["value"]["values"] == [3.0, 6.0]
    assert made == []


def _cases_for_plain_records() -> list[torch.Tensor]:
    torch.manual_seed(0)
    base = [torch.randn(()), torch.randn(1), torch.randn(8, 4), torch.randn(4, 1, 16), torch.randn(64), torch.randn(65)]
    base += [torch.randn(8, 4).t(), torch.randn(4, 16)[:, ::3], torch.randn(1).expand(8), torch.randn(3, 4).double()]
    base += [torch.randn(6).half(), torch.randn(6).bfloat16(), torch.randn(5, requires_grad=True) * 2]
    base += [torch.tensor(v) for v in ([0.0, -0.0], [-0.0, 1.0], [math.inf, 1.0], [math.nan, 2.0], [3e38, 3e38])]
    base += [torch.tensor([1e19, -2.0]), torch.tensor([1e200, 1.0], dtype=torch.float64), torch.zeros(0)]
    base += [torch._neg_view(torch.randn(4)), torch._efficientzerotensor(3), torch.arange(4)]
    base += [torch.randn(3).to_sparse(), torch.randn(2, dtype=torch.complex64), torch.randn(3, device="meta")]
    return base


def _read_plainly(t: torch.Tensor) -> dict | None:
    """The record NOTE [plain small records] reads, or None where ``record`` takes the general route."""
    return values_mod._plain_small(t, 64) if type(t) is torch.Tensor else None


def test_a_plain_small_record_is_the_general_routes_record(monkeypatch) -> None:
    """NOTE [plain small records]: the record read without ``unseen()`` is the general route's, keys in
    order, for every tensor it takes; the others (not all finite, not plain, too big) take the general route."""
    cases = _cases_for_plain_records()
    fast = [[record(t, limit) for limit in (0, 4, 64)] for t in cases]
    taken = [_read_plainly(t) is not None for t in cases]
    monkeypatch.setattr(values_mod, "_plain_small", lambda t, limit: None)
    general = [[record(t, limit) for limit in (0, 4, 64)] for t in cases]
    assert [json.dumps(r) for r in fast] == [json.dumps(r) for r in general]
    assert taken == [True] * 5 + [False] + [True] * 7 + [False, True] + [False] * 12  # each kind took its route


def test_a_plain_small_record_is_not_read_where_a_mode_or_the_profiler_would_see_it() -> None:
    t = torch.randn(3)
    assert _read_plainly(t) is not None
    with _Logged() as log:
        assert _read_plainly(t) is None
        rec = record(t)
    assert log.ops == [] and rec == _read_plainly(t)

    class Seen(torch.overrides.TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            raise AssertionError(f"{func} seen")

    with Seen():
        assert _read_plainly(t) is None and record(t) == rec
    with torch.autograd.profiler.profile() as prof:
        assert _read_plainly(t) is None and record(t)["unread"] == "the profiler was recording"
    assert prof is not None
