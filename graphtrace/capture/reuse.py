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


# NOTE [views read at arrival]: the backward of a view op (``t``, ``view``, ``permute``) hands
# on a view of the gradient it got: a weight's gradient reaches its leaf as ``TBackward0``'s
# transpose of it. Read where it arrives (NOTE [read where they arrive] in arrival.py), it is
# the same elements as the view node's own gradient, so its record is that one's with the
# shape of the view, not a second summary. The view node's gradient is held until every leaf
# it feeds so has read what arrived: it shares its storage with what those leaves get (no
# memory of its own), and alive it cannot give its address to another tensor; ``same_elements``
# and its version, unchanged since it was recorded, prove the elements equal.
VIEW_NODES = frozenset({"TBackward0", "ViewBackward0", "PermuteBackward0", "TransposeBackward0", "UnsafeViewBackward0"})


class HeldViews:
    """The gradients that view nodes got, until the leaves they feed have read theirs."""

    def __init__(self) -> None:
        self.held: dict[int, list[Any]] = {}  # node -> [its gradient, version, record, readings left]

    def hold(self, u: int, g: torch.Tensor, rec: dict[str, Any] | None, readings: int) -> None:
        self.held[u] = [g, g._version, rec, readings]

    def record_of(self, u: int, g: Any) -> dict[str, Any] | None:
        """The record of ``g``, what left view node ``u``, from ``u``'s own; None to record it afresh."""
        entry = self.held.get(u)
        if entry is None:
            return None
        entry[3] -= 1
        if entry[3] <= 0:
            del self.held[u]
        t, version, rec = entry[0], entry[1], entry[2]
        if rec is None or t._version != version or not isinstance(g, torch.Tensor) or not same_elements(g, t):
            return None
        return dict(rec, shape=list(g.shape))

    def clear(self) -> None:
        self.held.clear()
