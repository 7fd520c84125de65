"""Leaves that are FSDP2's unsharded parameters: which shard of each the rank holds, and its values."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

# NOTE [sharded parameters]: ``fully_shard`` (FSDP2) keeps each parameter as a DTensor of which
# the rank holds one shard (``Shard(0)`` on a device mesh). Forward and backward run on an
# all-gathered *unsharded* parameter, a plain tensor: that is the leaf of the autograd graph,
# and its accumulate hook sees the rank's gradient of the whole parameter. Before ``backward()``
# returns, FSDP reduce-scatters those gradients across ranks into the DTensor's ``.grad`` (the
# rank's shard of their mean) and frees the unsharded one. So a leaf that is an FSDP2 unsharded
# parameter is named by its parameter's name and gets ``shard``: the shard the rank holds (its
# index and count along the mesh dimension that shards it, the tensor dimension sharded, the
# local and global shapes) and ``accumulated``, the whole gradient as this rank accumulated it;
# its ``value`` and ``grad_after`` become the rank's local shard of the parameter and of its
# ``.grad`` (what the script sees, as ``p.to_local()`` and ``p.grad.to_local()``). FSDP2 offers no
# public map from a sharded parameter to its unsharded one: it is read from FSDP's own state
# (``_get_fsdp_state()._fsdp_param_groups[*].fsdp_params``: ``sharded_param``,
# ``_unsharded_param``, ``_module_info``); when that is not there, nothing is added. It is
# looked for only once ``torch.distributed.fsdp`` is imported and a process group exists, so
# other runs (DDP included) pay nothing for it.


def fsdp_params(owner: str, module: torch.nn.Module) -> dict[int, tuple[tuple[str, str], torch.Tensor]]:
    """id(unsharded parameter) -> ((owner, full parameter name), sharded DTensor parameter)."""
    found: dict[int, tuple[tuple[str, str], torch.Tensor]] = {}
    try:
        prefixes = {id(m): name for name, m in module.named_modules()}
        for m in module.modules():
            state_of = getattr(m, "_get_fsdp_state", None)
            if state_of is None:
                continue
            for group in getattr(state_of(), "_fsdp_param_groups", None) or ():
                for fp in group.fsdp_params:
                    unsharded = getattr(fp, "_unsharded_param", None)
                    info = fp._module_info
                    if unsharded is None or id(info.module) not in prefixes:
                        continue
                    prefix = prefixes[id(info.module)]
                    name = f"{prefix}.{info.param_name}" if prefix else info.param_name
                    found[id(unsharded)] = ((owner, name), fp.sharded_param)
    except Exception:  # FSDP's private state changed: no shard information
        return {}
    return found


def shard_of(param: Any) -> dict[str, Any]:
    """Which shard of the DTensor ``param`` this rank holds (NOTE [sharded parameters])."""
    mesh, placements = param.device_mesh, param.placements
    local = param._local_tensor
    found: dict[str, Any] = {"index": 0, "count": 1, "dim": None}
    coordinate = mesh.get_coordinate() or []
    for mesh_dim, placement in enumerate(placements):
        if placement.is_shard():
            found = {"index": int(coordinate[mesh_dim]), "count": int(mesh.size(mesh_dim)), "dim": int(placement.dim)}
            break
    return {
        **found,
        "placements": [repr(p) for p in placements],
        "local_shape": list(local.shape),
        "global_shape": list(param.shape),
    }


def collect(
    nodes: dict[int, dict[str, Any]],
    sharded: list[tuple[int, Any]],
    rec: Callable[[torch.Tensor | None], dict[str, Any] | None],
) -> None:
    """After the call: each sharded leaf's ``shard``, and its local shard's value and .grad."""
    for nid, param in sharded:
        node = nodes[nid]
        try:
            shard = shard_of(param)
            grad = param.grad
            local_grad = grad._local_tensor if grad is not None else None
            value = rec(param._local_tensor.detach())
        except Exception:  # see NOTE [sharded parameters]: not a DTensor as FSDP2 makes it
            continue
        node["shard"] = {**shard, "accumulated": node.get("grad_after")}
        node["value"] = value
        node["grad_after"] = rec(local_grad)
