"""Owner names on parameter names and module paths when a pass spans several top-level modules."""

from __future__ import annotations

from typing import Any

from .._types import Graph


def qualify(nodes: dict[int, dict[str, Any]], owners: dict[int, str]) -> set[str]:
    """Prefix each node's parameter name and module path with its owner when several owners
    take part (NOTE [owners] in provenance.py); the owners seen."""
    seen = set(owners.values())
    if len(seen) > 1:
        for nid, owner in owners.items():
            node = nodes[nid]
            if node["param"]:
                node["param"] = f"{owner}.{node['param']}"
            if node["module_class"]:
                node["module"] = f"{owner}.{node['module']}" if node["module"] else owner
    return seen


def modules_of(graph: Graph, seen: dict[tuple[str, str], str], qualified: bool) -> dict[str, str]:
    """Class names of the modules the pass's ops ran in, and of their enclosing modules
    (keys prefixed with their owner when ``qualified``, see NOTE [owners])."""
    classes: dict[str, str] = {}
    for (owner, path), cls in seen.items():
        key = (f"{owner}.{path}" if path else owner) if qualified else path
        classes.setdefault(key, cls)
    paths: set[str] = set()
    for _, a in graph.nodes(data=True):
        module = a.get("module")
        if a.get("module_class"):
            paths.add(module or "")
            while module:
                module = module.rpartition(".")[0]
                paths.add(module)
    return {p: classes[p] for p in sorted(paths) if p in classes}
