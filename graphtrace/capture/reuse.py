"""When a recorded value may be reused instead of summarising a tensor again (capture's hot path)."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

import torch

# NOTE [leaf value cache]: summarising a big model's parameters reads every weight (124M
# floats for GPT-2 small): a leaf's value record is kept, as plain data beside a weakref, until
# the tensor changes: its version counter moves (every optimizer step and in-place op), or, for
# updates through ``.data`` that bypass the counter, a sample of its elements differs.
_LEAF_VALUES: dict[int, tuple[weakref.ref[torch.Tensor], tuple[Any, ...], dict[str, Any] | None]] = {}
_LEAF_VALUES_MAX = 4096


def leaf_value(t: torch.Tensor, summarise: Callable[[torch.Tensor], dict[str, Any] | None],
               limit: int) -> dict[str, Any] | None:
    """A leaf's value record, computed once per version of the tensor (see _LEAF_VALUES)."""
    key = id(t)  # internal only; the weakref and the version counter guard it
    stamp = (t._version, limit, fingerprint(t))
    hit = _LEAF_VALUES.get(key)
    if hit is not None and hit[0]() is t and hit[1] == stamp:
        return hit[2]
    rec = summarise(t)
    if len(_LEAF_VALUES) >= _LEAF_VALUES_MAX:
        for k in [k for k, v in _LEAF_VALUES.items() if v[0]() is None]:
            del _LEAF_VALUES[k]
        if len(_LEAF_VALUES) >= _LEAF_VALUES_MAX:  # that many live leaves: start afresh
            _LEAF_VALUES.clear()
    _LEAF_VALUES[key] = (weakref.ref(t), stamp, rec)
    return rec


def pend(g: torch.Tensor, rec: dict[str, Any] | None) -> tuple[weakref.ref[torch.Tensor], dict[str, Any] | None, int]:
    """A record waiting for the node ``g`` flows into (see NOTE [reused records] in recorder.py)."""
    return weakref.ref(g), rec, g._version


def same(hit: tuple[weakref.ref[torch.Tensor], dict[str, Any] | None, int], g: Any) -> bool:
    """The pending record still describes ``g``: the same object, not modified since."""
    return hit[0]() is g and g is not None and g._version == hit[2]


def fingerprint(t: torch.Tensor) -> tuple[Any, ...]:
    """Where the data lives and 16 evenly spaced elements: cheap, and moved by any real update."""
    if t.layout != torch.strided or t.device.type == "meta" or t.numel() == 0:
        return (t.layout, t.device.type)
    with torch.no_grad():
        flat = t.detach().reshape(-1)
        sample = flat[:: max(1, flat.numel() // 16)][:16]
        return (t.data_ptr(), tuple(sample.tolist()))


def same_elements(a: torch.Tensor, b: torch.Tensor) -> bool:
    """``a`` holds exactly ``b``'s elements (a reshaped or permuted view): same summary."""
    if a.dtype != b.dtype or a.numel() != b.numel() or a.data_ptr() != b.data_ptr() or a.layout != b.layout:
        return False
    if a.is_contiguous() and b.is_contiguous():
        return True

    def dims(t: torch.Tensor) -> list[tuple[int, int]]:
        return sorted((st, sz) for st, sz in zip(t.stride(), t.shape) if sz != 1)

    return dims(a) == dims(b)
