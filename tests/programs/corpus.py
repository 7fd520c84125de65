"""What the corpus programs share: saving their final gradients for the harness to compare."""

from __future__ import annotations

import os
from typing import Any

GRADS_ENV = "GRAPHTRACE_CORPUS_GRADS"


def save_grads(**tensors: Any) -> None:
    """Save ``name=tensor`` (or None) to the path in $GRAPHTRACE_CORPUS_GRADS; nothing when it is unset."""
    import torch

    path = os.environ.get(GRADS_ENV)
    if path:
        torch.save({k: (v.detach().clone() if isinstance(v, torch.Tensor) else v) for k, v in tensors.items()}, path)


def node(p: dict, name: str) -> dict:
    """The node of pass ``p`` (a pass-*.json dict) whose variable or parameter name is ``name``."""
    found = [n for n in p["nodes"] if name in (n["name"], n["param"])]
    assert found, f"no node named {name!r} in pass {p['graph']['index']}: {[n['name'] for n in p['nodes']]}"
    return found[0]


def ops(p: dict) -> list[str]:
    """The op names of pass ``p``'s nodes, in node order."""
    return [n["op"] for n in p["nodes"]]
