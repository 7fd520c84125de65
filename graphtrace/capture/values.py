"""Value records: tensors as plain data, small ones in full, large ones summarised."""

from __future__ import annotations

import math
import operator
import struct
from itertools import chain
from typing import Any, cast

import torch
from torch._ops import _len_torch_dispatch_stack_pre_dispatch as _len_pre_dispatch
from torch.utils._python_dispatch import _disable_current_modes

from .._options import VALUE_LIMIT

JACOBIAN_LIMIT = 64  # local Jacobians are computed when both sides have at most this many


_DTYPE_NAMES: dict[torch.dtype, str] = {}


def dtype_name(dtype: torch.dtype) -> str:
    name = _DTYPE_NAMES.get(dtype)
    if name is None:
        name = _DTYPE_NAMES[dtype] = str(dtype).removeprefix("torch.")
    return name


def plain(value: Any) -> Any:
    """A number (or nested list) as JSON-able data: non-finite floats and complex as strings."""
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, complex):
        return str(value)
    return value


_BLOCK = 1 << 16  # float32 vector_norm drifts with size (1e-5 at 1e6 elements, 1% at 1e8)


def _norm(t: torch.Tensor, acc: torch.dtype) -> torch.Tensor:
    """L2 norm, as norms of blocks of at most _BLOCK elements combined; views only, no copy."""
    if acc == torch.float64 or t.numel() <= _BLOCK:
        return cast(torch.Tensor, torch.linalg.vector_norm(t, dtype=acc))
    t = _dense(t)  # a transpose of a dense tensor: same elements
    if t.dim() == 1 or t.is_contiguous():
        parts = _block_norms(t if t.dim() == 1 else t.view(-1), acc)
    elif t.numel() // t.shape[0] <= _BLOCK:
        parts = torch.linalg.vector_norm(t, dim=tuple(range(1, t.dim())), dtype=acc)
    else:
        parts = torch.stack([_norm(row, acc) for row in t.unbind(0)])
    return _norm(parts, acc)


def _block_norms(flat: torch.Tensor, acc: torch.dtype, last: bool = True) -> torch.Tensor:
    """The norms of a flat tensor's consecutive blocks of _BLOCK elements; ``last``: and of the
    shorter block left at its end (0 when none is left)."""
    m = flat.numel() // _BLOCK * _BLOCK
    whole = cast(torch.Tensor, torch.linalg.vector_norm(flat[:m].view(-1, _BLOCK), dim=1, dtype=acc))
    if not last:
        return whole
    return torch.cat([whole, torch.linalg.vector_norm(flat[m:], dtype=acc).reshape(1)])


def _dense(t: torch.Tensor) -> torch.Tensor:
    """A permuted view of a dense tensor as the contiguous tensor it is (a weight gradient
    coming out of ``TBackward0``): reductions run many times faster on it, with the same result."""
    if t.dim() < 2 or t.is_contiguous():
        return t
    strides = t.stride()
    order = sorted(range(t.dim()), key=lambda d: -strides[d])
    permuted = t.permute(order)
    return permuted if permuted.is_contiguous() else t


# NOTE [chunked summaries]: a contiguous tensor of more than _CHUNKED elements (4 MB of float32,
# more than a core's cache holds) is reduced _CHUNK elements (1 MB) at a time: its sum, its min
# and max (one ``aminmax``) and the norms of its _BLOCK-element blocks, so that each chunk comes
# from memory once and the other two reductions find it in cache. The blocks are those of
# ``_norm`` (a chunk holds whole blocks), so the norm is the same number as ``_norm`` of the
# whole tensor, bit for bit (within 3e-7 of the exact norm where the sum of squares of each
# chunk by BLAS ``dot`` was 3e-6 away), and the min and max are exact; only the sum is added up
# in chunks. float64 tensors are reduced whole: ``vector_norm`` of the whole is closer to the
# exact norm than norms of blocks combined, and float64 models are rare enough to pay 3 reads.
_CHUNKED = 1 << 20
_CHUNK = 1 << 18  # a multiple of _BLOCK


def _stats(t: torch.Tensor, acc: torch.dtype) -> list[float]:
    """[sum, norm, min, max], each read by torch from the values (NOTE [chunked summaries])."""
    if acc != torch.float64 and t.is_contiguous() and t.numel() > _CHUNKED:
        sums, norms, lows, highs = [], [], [], []
        chunks = t.view(-1).split(_CHUNK)
        for i, c in enumerate(chunks):
            sums.append(c.sum(dtype=acc))
            low, high = torch.aminmax(c)
            lows.append(low)
            highs.append(high)
            norms.append(_block_norms(c, acc, last=i == len(chunks) - 1))
        total, norm = torch.stack(sums).sum(), _norm(torch.cat(norms), acc)
        lo, hi = torch.stack(lows).min(), torch.stack(highs).max()
    else:
        lo, hi = torch.aminmax(t)
        total, norm = t.sum(dtype=acc), _norm(t, acc)
    if t.dtype != acc:
        lo, hi = lo.to(acc), hi.to(acc)
    return [total.item(), norm.item(), lo.item(), hi.item()]


def _scaled(t: torch.Tensor, acc: torch.dtype, scale: float) -> tuple[float, float]:
    """(mean, norm) of finite values whose squares or sum leave the dtype's range.

    NOTE [scaled summaries]: finite values near the top of the range (1e200 in float64, 3e38
    in float32) overflow the sum of squares, and tiny ones (1e-200) underflow it, though the
    norm itself is representable; so, only then (one more pass over a copy), the values are
    divided by the largest magnitude, reduced, and the results multiplied back. A norm beyond
    the dtype's largest finite value stays ``inf`` (written ``"inf"``, docs/trace-format.md).
    """
    s = t.to(acc) / scale
    mean = scale * (s.sum(dtype=acc).item() / t.numel())
    with torch.no_grad():
        norm = scale * _norm(s, acc).item()
    return mean, norm


def _summary(t: torch.Tensor) -> dict[str, Any]:
    """norm, min, max, mean, NaN and Inf counts: three reductions, in float32, over the data.

    NOTE [summary cost]: on big tensors the summary is memory-bound; float64 accumulation
    would convert the whole tensor first (20x slower here), so floats are reduced as float32
    (or their own wider dtype), big ones chunk by chunk so that the three reductions read each
    chunk from cache, and NaN/Inf are counted only when the sum is not finite.
    """
    if t.is_complex():
        t = t.abs()
    if not t.is_floating_point():
        t = t.to(torch.float32)
    t = _dense(t)
    acc = torch.float64 if t.dtype == torch.float64 else torch.float32
    total, norm, lo, hi = _stats(t, acc)
    mean = total / t.numel()
    nan = inf = 0
    if not (math.isfinite(total) and math.isfinite(norm)):  # only then count (rare)
        nan = int(torch.isnan(t).sum())
        inf = int(torch.isinf(t).sum())
    scale = max(abs(lo), abs(hi))
    if 0 < scale < math.inf and not (math.isfinite(total) and scale * (1 - 1e-6) <= norm < math.inf):
        mean, norm = _scaled(t, acc, scale)
    return {
        "norm": plain(norm),
        "min": plain(lo),
        "max": plain(hi),
        "mean": plain(mean),
        "nan": nan,
        "inf": inf,
    }


# NOTE [small summaries]: a float tensor of at most SMALL elements is summarised from its
# values, read once (``tolist``), in Python: min and max as they are, the sum by ``math.fsum``
# (correctly rounded), the norm as the square root of the fsum of the squares (exact in
# float64 for float32 and narrower values; ``math.hypot``, within an ulp, for float64 ones),
# both then rounded to the dtype the torch reductions give (float32, or float64). Torch's
# float32 reductions round as they go, in an order that depends on the CPU's vector width, so
# they can be an ulp or more away (the mean of a symmetric linspace came out 9.5e-08, not 0);
# the rule depends on the size alone, never on ``value_limit``. Non-finite values, magnitudes past _ROOM (where the
# float32 sum of squares would leave the range: NOTE [scaled summaries]) and a min or max of
# zeros of both signs take the torch route, so those keep what torch reports.
SMALL = VALUE_LIMIT
_ROOM = {torch.float32: 2.0**60, torch.float64: 2.0**500}
_FLOAT32 = struct.Struct("f")
_ACC = {torch.float16: torch.float32, torch.bfloat16: torch.float32, torch.float32: torch.float32}
_ACC[torch.float64] = torch.float64  # dtype read directly -> the dtype torch's reductions give
_READ_DIRECTLY = tuple(_ACC)


def _flat(values: Any, dim: int) -> list[float]:
    """``tolist()`` of a ``dim``-dimensional tensor as one flat list."""
    if dim == 0:
        return [values]
    for _ in range(dim - 1):
        values = list(chain.from_iterable(values))
    flat: list[float] = values  # no cast(): a call per record
    return flat


def _small_summary(flat: list[float], acc: torch.dtype) -> dict[str, Any] | None:
    """The summary of finite values read (NOTE [small summaries]), or None for the torch route."""
    try:
        total = math.fsum(flat)
    except (OverflowError, ValueError):  # inf - inf, or a sum past the largest float
        return None
    if not math.isfinite(total):
        return None
    lo, hi = min(flat), max(flat)
    if max(-lo, hi) > _ROOM[acc]:
        return None
    if (lo == 0 or hi == 0) and len({math.copysign(1.0, x) for x in flat if x == 0}) > 1:
        return None  # -0.0 and 0.0: which one aminmax gives depends on their order
    if acc is torch.float64:
        norm = math.hypot(*flat)
    else:  # squares of float32 (or narrower) values are exact in float64
        norm = _FLOAT32.unpack(_FLOAT32.pack(math.sqrt(math.fsum(map(operator.mul, flat, flat)))))[0]
        total = _FLOAT32.unpack(_FLOAT32.pack(total))[0]
    return {"norm": norm, "min": lo, "max": hi, "mean": total / len(flat), "nan": 0, "inf": 0}


def record_read(values: Any, dtype: torch.dtype, limit: int) -> dict[str, Any] | None:
    """``record`` of a tensor of ``dtype`` whose ``tolist()`` gave ``values``, made from them
    without a tensor (NOTE [small summaries]); None when only torch's reductions may summarise it."""
    if dtype not in _READ_DIRECTLY:
        return None
    shape = []
    level = values
    while isinstance(level, list):
        shape.append(len(level))
        if not level:
            return None
        level = level[0]
    n = math.prod(shape)
    return _small_record(values, shape, dtype, n, limit) if n <= SMALL else None


def _small_record(values: Any, shape: list[int], dtype: torch.dtype, n: int, limit: int) -> dict[str, Any] | None:
    """The record of at most SMALL values of ``dtype`` read by ``tolist()`` (NOTE [small summaries]), or None
    when torch's reductions must summarise them (a value not finite, signed zeros)."""
    small = _small_summary(_flat(values, len(shape)), _ACC[dtype])
    if small is None:
        return None
    rec: dict[str, Any] = {"shape": shape, "dtype": dtype_name(dtype), "numel": n}
    rec["values"] = values if n <= limit else None
    rec.update(small)
    return rec


_EMPTY = {"norm": None, "min": None, "max": None, "mean": None, "nan": 0, "inf": 0}

# NOTE [unread tensors]: some tensors cannot be read without changing the program: functorch
# wrappers (torch.func, vmap) have no storage and no batching rule for our ops; a subclass
# with its own __torch_dispatch__ would run its code on our ops; while the profiler records,
# each of our ops would be an event of the user's profile. Their record keeps what is read
# for free (shape, dtype) and names why the values are missing (``"unread"``); a nested
# tensor's ragged shape is given as its leading dimension with ``"layout"``.


def wrapped(t: torch.Tensor) -> bool:
    """``t`` is a functorch wrapper (torch.func grad/vjp/jacrev, vmap): it has no storage."""
    functorch = torch._C._functorch
    return (
        functorch.is_functorch_wrapped_tensor(t)
        or functorch.is_batchedtensor(t)
        or functorch.is_legacy_batchedtensor(t)
    )


def unreadable(t: torch.Tensor) -> str:
    """Why the values of ``t`` are not read (see NOTE [unread tensors]), or ""."""
    if wrapped(t):
        return "inside a torch.func transform"
    if type(t) is not torch.Tensor and type(t).__torch_dispatch__ is not torch.Tensor.__torch_dispatch__:
        return f"tensor subclass {type(t).__name__}"
    if torch._C._autograd._profiler_enabled():
        return "the profiler was recording"
    return ""


def shape_of(t: Any) -> list[int]:
    """``list(t.shape)``; for a nested tensor, its sizes up to the first ragged one."""
    if not t.is_nested:
        return list(t.shape)
    sizes = []
    for d in range(t.dim()):
        try:
            size = t.size(d)
        except RuntimeError:  # a ragged dimension of a strided nested tensor
            break
        if not isinstance(size, int):  # a jagged tensor's ragged size (a symbol)
            break
        sizes.append(size)
    return sizes


class _Unseen:
    """The context of ``unseen()``: grad mode off, torch functions and dispatch modes hidden.

    A class setting grad mode itself, not a generator around ``torch.no_grad()``: it wraps
    every value record, and this costs a fifth of that (1.3 µs, not 6.6 µs)."""

    __slots__ = ("functions", "grad", "modes")

    def __enter__(self) -> None:
        self.functions = torch._C.DisableTorchFunction()
        self.functions.__enter__()  # first: a user's TorchFunctionMode would see the grad mode set
        self.grad = torch.is_grad_enabled()
        torch._C._set_grad_enabled(False)
        self.modes: Any = None
        try:
            if torch._C._len_torch_dispatch_stack() != 0 or _len_pre_dispatch() != 0:
                modes = _disable_current_modes()
                modes.__enter__()
                self.modes = modes
        except BaseException:
            torch._C._set_grad_enabled(self.grad)
            self.functions.__exit__(None, None, None)
            raise

    def __exit__(self, *exc: Any) -> None:
        try:
            if self.modes is not None:
                self.modes.__exit__(*exc)
        finally:
            try:
                torch._C._set_grad_enabled(self.grad)
            finally:
                self.functions.__exit__(*exc)


def unseen() -> _Unseen:
    """Our own tensor ops run here, where no user TorchDispatchMode (a logging mode, a
    selective-checkpoint policy) and no TorchFunctionMode sees them."""
    return _Unseen()


def _unread(t: torch.Tensor, why: str) -> dict[str, Any]:
    rec: dict[str, Any] = {"shape": shape_of(t), "dtype": dtype_name(t.dtype)}
    if t.is_nested:  # its element count is not a size of its own
        rec["layout"] = "nested"
    else:
        rec["numel"] = t.numel()
    rec.update(values=None, unread=why, **_EMPTY)
    return rec


# NOTE [plain small records]: most records are of small float tensors on the CPU (a training
# loop's gradients: a counted pass makes one per named leaf). For a tensor of type
# ``torch.Tensor`` itself (no subclass), neither nested, sparse, an efficient zero nor a negated
# view, read while no torch function or dispatch mode is active and the profiler is off,
# ``tolist`` is seen by nothing (it makes no autograd node and dispatches no op to a mode) and
# reads what ``detach().tolist()`` reads; so ``record`` reads it as it is, without entering
# ``unseen()``, and gives the very record of the general route (keys in order:
# tests/capture/test_values.py). Values not all finite, and every other tensor, take the general route.
_function_modes = torch._C._len_torch_function_stack
_dispatch_modes = torch._C._len_torch_dispatch_stack
_profiling = torch._C._autograd._profiler_enabled


def _plain_small(t: torch.Tensor, limit: int) -> dict[str, Any] | None:
    """``record(t, limit)`` by NOTE [plain small records], or None: the general route."""
    if _function_modes() or t.is_nested:  # these first: even a property read is a call a mode sees
        return None
    n = t.numel()
    if (
        t.dtype not in _ACC
        or not 0 < n <= SMALL
        or not t.is_cpu
        or t.layout is not torch.strided
        or t._is_zerotensor()
        or t.is_neg()
        or _dispatch_modes()
        or _profiling()
        or wrapped(t)
        or _len_pre_dispatch()
    ):
        return None
    return _small_record(t.tolist(), list(t.shape), t.dtype, n, limit)


def record(t: Any, limit: int = VALUE_LIMIT) -> dict[str, Any] | None:
    """The value record of a tensor (see docs/trace-format.md), or None for no tensor."""
    if type(t) is torch.Tensor:  # NOTE [plain small records]
        read = _plain_small(t, limit)
        if read is not None:
            return read
    elif not isinstance(t, torch.Tensor):
        return None
    with unseen():  # even reading a property is a call a user's TorchFunctionMode sees
        why = "nested tensor" if t.is_nested else unreadable(t)
        if why:
            return _unread(t, why)
        t = t.detach()
        n = t.numel()
        rec: dict[str, Any] = {"shape": list(t.shape), "dtype": dtype_name(t.dtype), "numel": n}
        if t.layout == torch.sparse_coo:
            rec["layout"] = "sparse_coo"
            rec["values"] = None
            rec.update(_summary(t.coalesce().values()) if t._nnz() else _EMPTY)
            return rec
        if t.layout != torch.strided or t.device.type == "meta" or n == 0:
            rec["values"] = [] if n == 0 and t.device.type != "meta" else None
            rec.update(_EMPTY)
            return rec
        if t._is_zerotensor():  # an efficient zero (double backward) has no storage to read
            t = torch.zeros((), dtype=t.dtype, device=t.device).expand(t.shape)
        try:
            if n <= SMALL and t.dtype in _READ_DIRECTLY:  # NOTE [small summaries]
                read = _small_record(t.tolist(), rec["shape"], t.dtype, n, limit)
                if read is not None:  # every value is finite: plain() would change none
                    return read
            rec["values"] = plain(t.tolist()) if n <= limit else None
            rec.update(_summary(t))
        except Exception:  # exotic dtype or subclass: never break the pass
            rec["values"] = None
            rec.update(_EMPTY)
        return rec
