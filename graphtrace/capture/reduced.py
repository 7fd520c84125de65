"""Leaves whose ``.grad`` changed after accumulation and before the call returned: DDP's all-reduce."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

import torch

# NOTE [all-reduce]: under torch.distributed, DDP's reducer copies each parameter's gradient
# into a bucket as it is accumulated, all-reduces the buckets, and at the end of the backward
# (an engine callback, before ``backward()`` returns) writes the reduced gradient back into
# ``.grad``. Our post-accumulate hook sees the rank's local gradient; the script sees the reduced
# one. So the accumulate hook notes which tensor ``.grad`` was and its version, and after the
# call a leaf whose ``.grad`` is another tensor or was written since gets ``reduced``: the local
# ``.grad`` as accumulated, and ``grad_after`` becomes what the script sees. Under ``no_sync()``
# nothing is written back, and nothing is recorded.


def world() -> tuple[int, int] | None:
    """(rank, world size) of the default process group, or None outside torch.distributed."""
    dist = torch.distributed
    if not dist.is_available() or not dist.is_initialized():
        return None
    return dist.get_rank(), dist.get_world_size()


class Reductions:
    """What each leaf's ``.grad`` was when our accumulate hook ran (see NOTE [all-reduce])."""

    def __init__(self, world_size: int) -> None:
        self.world_size = world_size
        self.seen: dict[int, tuple[weakref.ref[torch.Tensor] | None, int]] = {}

    def saw(self, nid: int, grad: torch.Tensor | None) -> None:
        self.seen[nid] = (weakref.ref(grad), grad._version) if grad is not None else (None, -1)

    def collect(
        self,
        nodes: dict[int, dict[str, Any]],
        leaves: list[tuple[int, torch.Tensor]],
        rec: Callable[[torch.Tensor | None], dict[str, Any] | None],
    ) -> None:
        """Give each leaf whose ``.grad`` was written after its hook ``reduced``; ``grad_after`` what is there now."""
        for nid, var in leaves:
            if nid not in self.seen:
                continue
            ref, version = self.seen[nid]
            grad = var.grad
            if grad is None or (ref is not None and ref() is grad and grad._version == version):
                continue
            node = nodes[nid]
            node["reduced"] = {"local": node.get("grad_after"), "world_size": self.world_size}
            node["grad_after"] = rec(grad)

    def clear(self) -> None:
        self.seen.clear()
