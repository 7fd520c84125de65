"""A pass graph read once into plain dicts for the views: attributes, successors, predecessors, order."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .._types import Graph

# NOTE [plain reads]
# views.apply visits every node and edge of a pass several times (module index, fold
# structures, structural rounds, contraction). networkx's views (``graph.nodes[n]``,
# ``graph.pred[n]``, ``in_degree()``, ``edges(data=True)``) build a wrapper object or run a
# generator per node read; the dicts underneath are plain. So apply reads them once, through
# the public API (``nodes(data=True)``, ``adjacency()`` of the graph and of its reversed view,
# which networkx returns without copying), and every step reads those dicts. Nothing here
# may write into them: they are the pass's own.


@dataclass(frozen=True)
class Plain:
    """One pass's graph as plain dicts, in the graph's node order (NOTE [plain reads])."""

    graph: Graph
    nodes: dict[Any, dict[str, Any]]  # node -> its attributes
    succ: dict[Any, dict[Any, dict[str, Any]]]  # node -> successor -> edge attributes
    pred: dict[Any, dict[Any, dict[str, Any]]]  # node -> predecessor -> edge attributes


def read(graph: Graph) -> Plain:
    """The plain dicts of ``graph`` (NOTE [plain reads])."""
    return Plain(
        graph, dict(graph.nodes(data=True)), dict(graph.adjacency()), dict(graph.reverse(copy=False).adjacency())
    )


def topo_order(plain: Plain) -> list[Any]:
    """Nodes in topological order, generation by generation as networkx's topological_sort gives
    them (Kahn's algorithm on plain dicts); node order for a hand-made graph with a cycle."""
    succ = plain.succ
    waiting = {n: len(p) for n, p in plain.pred.items() if p}
    order = [n for n in succ if n not in waiting]
    for n in order:  # the loop also visits what it appends
        for s in succ[n]:
            left = waiting[s] - 1
            waiting[s] = left
            if not left:
                order.append(s)
    return order if len(order) == len(succ) else list(succ)
