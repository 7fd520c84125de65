"""When a recorded value may be reused instead of summarising a tensor again (capture's hot path)."""

from __future__ import annotations

import weakref
from typing import Any, TypeAlias

import torch

from .values import unreadable

# a record waiting for the node a gradient flows into: (the tensor, its record, its version then)
PendingEntry: TypeAlias = tuple[weakref.ref[torch.Tensor], dict[str, Any] | None, int]

# NOTE [no leaf value cache]: a leaf's value is summarised afresh in every pass. A cache
# keyed by the version counter (plus a sample of elements) went stale after writes that
# bypass the counter (``w.data[0, 1] += 1000``, numpy views, other threads), and no check
# short of reading every element is exact; reading them is the summary itself. Its cost per
# pass is measured in bench/ (the "leaf values" column).


def pending_entry(g: torch.Tensor, rec: dict[str, Any] | None) -> PendingEntry:
    """A record waiting for the node ``g`` flows into (see NOTE [reused records] in recorder.py)."""
    return weakref.ref(g), rec, g._version


def still_describes(hit: PendingEntry, g: Any) -> bool:
    """The pending record still describes ``g``: the same object, not modified since."""
    return hit[0]() is g and g is not None and g._version == hit[2]


def same_elements(a: torch.Tensor, b: torch.Tensor) -> bool:
    """``a`` holds exactly ``b``'s elements (a reshaped or permuted view): same summary."""
    if (
        a.dtype != b.dtype
        or a.numel() != b.numel()
        or a.layout != b.layout
        or a.is_nested
        or b.is_nested
        or unreadable(a)
        or unreadable(b)
        or a.data_ptr() != b.data_ptr()
    ):
        return False
    if a.is_contiguous() and b.is_contiguous():
        return True

    def dims(t: torch.Tensor) -> list[tuple[int, int]]:
        return sorted((st, sz) for st, sz in zip(t.stride(), t.shape) if sz != 1)

    return dims(a) == dims(b)
