"""Local Jacobians of small autograd nodes, by calling each node on basis vectors."""

from __future__ import annotations

import math
from typing import Any, cast

import torch

from .provenance import Provenance
from .values import plain, unseen
from .walk import Skeleton, is_leaf_fn, is_python_fn

MAX_CALLS = 4096  # node calls a pass may spend on Jacobians


# NOTE [pure nodes]: a node called on basis vectors runs again, before the real pass, whatever
# its backward does that the program can see: a saved-tensor unpack hook fires once more, a
# non-reentrant checkpoint re-runs its forward (and selective checkpoint's single recompute is
# used up), a custom Function's backward runs twice, a dispatch mode or the profiler sees the
# node's ops. So only nodes known to be pure are called: built-in (not a custom Function),
# made inside the trace block (``table``) while no saved-tensor hook and no dispatch mode was
# active, and called while no dispatch mode is active and the profiler is off. Every other
# edge gets its local derivative only from the gradients that actually flowed (recorder.py).
# CopySlices (an in-place op on a view) calls the node it wraps, which may be a custom
# Function's (``mark_dirty`` on a view); torch does not say which, so it is never called.


def callable_now() -> bool:
    """No dispatch mode and no profiler would see a node call made now (NOTE [pure nodes])."""
    return torch._C._len_torch_dispatch_stack() == 0 and not torch._C._autograd._profiler_enabled()


def node_jacobians(sk: Skeleton, limit: int, table: Provenance) -> dict[tuple[int, int], list[Any]]:
    """``J[i][j] = d out_u[i] / d v[j]`` for every edge whose two ends have <= limit elements.

    Must run before the backward pass, while the saved tensors are alive. Only pure nodes are
    called (NOTE [pure nodes]); multi-output and complex nodes are skipped.
    """
    if not callable_now():
        return {}
    with unseen():
        return _jacobians(sk, limit, table)


def _jacobians(sk: Skeleton, limit: int, table: Provenance) -> dict[tuple[int, int], list[Any]]:
    out: dict[tuple[int, int], torch.Tensor] = {}
    calls = 0
    for i, fn in enumerate(sk.fns):
        if is_leaf_fn(fn) or is_python_fn(fn) or type(fn).__name__ == "CopySlices":
            continue
        if not table.pure(fn):
            continue
        metas: tuple[Any, ...] = getattr(fn, "_input_metadata", ())
        if len(metas) != 1:
            continue
        input_meta = metas[0]
        n_out = 1
        for d in input_meta.shape:
            n_out *= d
        if n_out == 0 or n_out > limit or not input_meta.dtype.is_floating_point or input_meta.device.type == "meta":
            continue
        if all(_passed_on_size(nxt, nr) > limit for nxt, nr in fn.next_functions if nxt is not None):
            continue  # no edge would keep its Jacobian: the node is not called, no call is spent
        if calls + n_out > MAX_CALLS:
            break
        calls += n_out
        rows = _rows(fn, n_out, input_meta)
        if rows is None:
            continue
        u = len(sk.roots) + i
        for slot, (nxt, input_nr) in enumerate(fn.next_functions):
            if nxt is None:
                continue
            key = (u, sk.ids[nxt])
            if len(set(sk.edges.get(key, {}).get("input_nrs") or ())) > 1:  # NOTE [slots to several outputs]
                continue
            cols = _as_passed_on([r[slot] for r in rows], nxt, input_nr)
            if cols is None or cols[0].numel() > limit:
                continue
            block = cols[0].reshape(1, -1) if n_out == 1 else torch.stack([c.reshape(-1) for c in cols])
            out[key] = block if key not in out else out[key] + block
    return {k: _rows_of(v) for k, v in out.items()}


def _rows_of(block: torch.Tensor) -> list[Any]:
    """``plain(block.tolist())``; without walking every element when all are finite real numbers."""
    rows: list[Any] = block.tolist()
    finite = not block.is_complex() and bool(torch.isfinite(block).all())
    return rows if finite else cast(list[Any], plain(rows))


def _rows(fn: Any, n_out: int, input_meta: Any) -> list[Any] | None:
    """The node's grad_inputs for each basis vector of its output, or None if it cannot run."""
    rows = []
    shape, dtype, device = tuple(input_meta.shape), input_meta.dtype, input_meta.device
    with torch.no_grad():
        for k in range(n_out):
            if n_out == 1:  # the one basis vector: a single op, not zeros then a write
                basis = torch.ones(shape, dtype=dtype, device=device)
            else:
                basis = torch.zeros(n_out, dtype=dtype, device=device)
                basis[k] = 1
                basis = basis.reshape(shape)
            try:
                grads = fn(basis)
            except Exception:  # freed buffers, unsupported node: no Jacobian, nothing else changes
                return None
            rows.append(grads if isinstance(grads, tuple) else (grads,))
    return rows


def _passed_on_size(nxt: Any, input_nr: int) -> float:
    """Elements of the gradient the engine hands input ``input_nr`` of ``nxt`` (the size of a
    column ``_as_passed_on`` gives); 0 when autograd does not say, so that the node is called."""
    metas = getattr(nxt, "_input_metadata", ())
    if input_nr >= len(metas):
        return 0
    try:
        return math.prod(int(d) for d in metas[input_nr].shape)
    except (RuntimeError, TypeError):  # a ragged (nested) shape
        return 0


def _as_passed_on(cols: list[Any], nxt: Any, input_nr: int) -> list[Any] | None:
    """The columns as the engine hands them to ``nxt``: summed over broadcast dimensions and
    cast to its dtype (the engine's validate_outputs does this after the node ran), or None."""
    if any(c is None or c.layout != torch.strided for c in cols):  # sparse (Embedding): none
        return None
    metas = getattr(nxt, "_input_metadata", ())
    if input_nr >= len(metas):
        return cols
    shape, dtype = tuple(metas[input_nr].shape), metas[input_nr].dtype
    try:
        return [c if tuple(c.shape) == shape and c.dtype == dtype else c.sum_to_size(shape).to(dtype) for c in cols]
    except (RuntimeError, TypeError):  # not reducible to that shape: no Jacobian for this edge
        return None


def local_from_jacobian(jac: list[Any], v_shape: list[int] | None) -> dict[str, Any] | None:
    """The elementwise local derivative, when the Jacobian is a row (scalar out) or diagonal."""
    n_out, n_in = len(jac), len(jac[0]) if jac else 0
    if n_out == 0 or v_shape is None:
        return None
    if n_out == 1:
        flat = list(jac[0])
    elif n_out == n_in and all(_zero_off(jac[i], i) for i in range(n_out)):
        flat = [jac[i][i] for i in range(n_out)]
    else:
        return None
    return _flat_record(flat, v_shape)


def _zero_off(row: list[Any], i: int) -> bool:
    """Every number of ``row`` but its i-th is zero (non-finite ones, strings, are not looked at)."""
    off = row[:i] + row[i + 1 :]
    return not any(off) or all(x == 0 or isinstance(x, str) for x in off)  # any(): a fast path, in C


def _nest(flat: list[Any], shape: list[int]) -> Any:
    """The flat list as nested lists of ``shape``, as ``tolist()`` gives (zero-size dims too)."""
    if not shape:
        return flat[0]
    if len(shape) == 1:
        return list(flat)
    n = len(flat) // shape[0] if shape[0] else 0
    return [_nest(flat[i * n : (i + 1) * n], shape[1:]) for i in range(shape[0])]


def _flat_record(flat: list[Any], shape: list[int]) -> dict[str, Any]:
    """A value record built from a flat list of plain numbers (no torch needed)."""
    nums = [x for x in flat if not isinstance(x, str)]
    values = _nest(flat, list(shape))
    n = len(flat)
    mean = sum(nums) / n if nums else 0.0
    norm = sum(x * x for x in nums) ** 0.5
    big = max((abs(x) for x in nums), default=0.0)
    if 0 < big < math.inf:  # NOTE [scaled summaries]
        mean = mean if math.isfinite(mean) else sum(x / n for x in nums)
        norm = norm if big * (1 - 1e-6) <= norm < math.inf else math.hypot(*nums)
    return {
        "shape": list(shape),
        "dtype": "float",
        "numel": n,
        "values": values,
        "norm": plain(norm) if nums else None,
        "min": min(nums) if nums else None,
        "max": max(nums) if nums else None,
        "mean": plain(mean) if nums and len(nums) == n else None,
        "nan": sum(1 for x in flat if x == "nan") if len(nums) < n else 0,
        "inf": sum(1 for x in flat if x in ("inf", "-inf")) if len(nums) < n else 0,
    }
