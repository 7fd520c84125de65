"""Value records: tensors as plain data, small ones in full, large ones summarised."""

from __future__ import annotations

import math
from typing import Any

import torch

VALUE_LIMIT = 64  # tensors with at most this many elements are recorded in full
JACOBIAN_LIMIT = 64  # local Jacobians are computed when both sides have at most this many


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def plain(value: Any) -> Any:
    """A number (or nested list) as JSON-able data: non-finite floats and complex as strings."""
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, bool) or isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, complex):
        return str(value)
    return value


def _finite_or_str(x: float) -> float | str:
    return x if math.isfinite(x) else str(x)


def _summary(t: torch.Tensor) -> dict:
    """norm, min, max, mean, NaN and Inf counts with as few passes over the data as we can."""
    if t.is_complex():
        t = t.abs()
    elif not t.is_floating_point():
        t = t.to(torch.float64)
    total = t.sum(dtype=torch.float64)
    norm = torch.linalg.vector_norm(t, dtype=torch.float64)
    lo, hi = torch.aminmax(t)
    total, norm, lo, hi = torch.stack([total, norm, lo.double(), hi.double()]).tolist()
    nan = inf = 0
    if not (math.isfinite(total) and math.isfinite(norm)):  # only then count (rare)
        nan = int(torch.isnan(t).sum())
        inf = int(torch.isinf(t).sum())
    n = t.numel()
    return {
        "norm": _finite_or_str(norm),
        "min": _finite_or_str(lo),
        "max": _finite_or_str(hi),
        "mean": _finite_or_str(total / n),
        "nan": nan,
        "inf": inf,
    }


_EMPTY = {"norm": None, "min": None, "max": None, "mean": None, "nan": 0, "inf": 0}


def record(t: Any, limit: int = VALUE_LIMIT) -> dict | None:
    """The value record of a tensor (see docs/trace-format.md), or None for no tensor."""
    if not isinstance(t, torch.Tensor):
        return None
    with torch.no_grad():
        t = t.detach()
        rec: dict[str, Any] = {"shape": list(t.shape), "dtype": dtype_name(t.dtype), "numel": t.numel()}
        if t.layout == torch.sparse_coo:
            rec["layout"] = "sparse_coo"
            rec["values"] = None
            rec.update(_summary(t.coalesce().values()) if t._nnz() else _EMPTY)
            return rec
        if t.layout != torch.strided or t.device.type == "meta" or t.numel() == 0:
            rec["values"] = [] if t.numel() == 0 and t.device.type != "meta" else None
            rec.update(_EMPTY)
            return rec
        rec["values"] = plain(t.tolist()) if t.numel() <= limit else None
        rec.update(_summary(t))
        return rec
