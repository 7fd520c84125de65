"""Owner names on parameter names and module paths when a pass spans several top-level modules."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from .._types import Graph

# NOTE [owners while lean]: whether a pass prefixes its names with their owners (NOTE [owners] in
# provenance.py) depends on the owners of its ops' modules as well as of its parameters: a model
# and its loss module (``crit = nn.MSELoss()``) make two, so ``net.0.weight``. A pass recorded in
# full while the trace was lean has no modules on the nodes made while lean (NOTE [forward not
# recorded] in tracer.py), so it would see the model alone and name the same parameter
# ``0.weight``: the run would show one parameter under two names. So the tracer remembers, for
# each owner, whether the latest pass with its forward recorded that showed it prefixed its names
# (``Prefixes``); a lean pass prefixes its names when it shows several owners itself or one
# remembered as prefixed, and so names every parameter as the run's recorded passes did. An
# owner no recorded pass showed is named by the lean pass's own nodes, as before.


class Prefixes:
    """Whether each owner's names were prefixed in the latest pass with a recorded forward that
    showed it (NOTE [owners while lean])."""

    def __init__(self) -> None:
        self._latest: dict[str, bool] = {}

    def learn(self, owners: dict[int, str]) -> None:
        """Remember the owners of a pass whose forward was recorded (``PassRecorder.owners``)."""
        seen = set(owners.values())
        for owner in seen:
            self._latest[owner] = len(seen) > 1

    def prefixed(self) -> list[str]:
        """The owners whose names were prefixed the latest time a recorded pass showed them."""
        return sorted(owner for owner, yes in self._latest.items() if yes)


def qualify(nodes: dict[int, dict[str, Any]], owners: dict[int, str], prefixed: Collection[str] = ()) -> bool:
    """Prefix each node's parameter name and module path with its owner when several owners
    take part (NOTE [owners] in provenance.py) or one of them is in ``prefixed`` (NOTE [owners
    while lean]); whether it did."""
    seen = set(owners.values())
    if len(seen) < 2 and seen.isdisjoint(prefixed):
        return False
    for nid, owner in owners.items():
        node = nodes[nid]
        if node["param"]:
            node["param"] = f"{owner}.{node['param']}"
        if node["module_class"]:
            node["module"] = f"{owner}.{node['module']}" if node["module"] else owner
    return True


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
