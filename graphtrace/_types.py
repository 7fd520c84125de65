"""Type names shared by every layer (a pass's graph, its plain attributes), and the one maker of such graphs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeAlias

from ._first_use import first_use

if TYPE_CHECKING:
    import networkx as nx

Attrs: TypeAlias = dict[str, Any]  # a node's, an edge's or a graph's attributes: plain JSON-able data
Graph: TypeAlias = "nx.DiGraph[Any]"  # a pass (node ids are ints) or a view of one (group nodes are str)


def new_graph() -> Graph:
    """An empty ``networkx.DiGraph``, networkx imported on first use (NOTE [networkx on first use])."""
    graph: Graph = first_use("networkx").DiGraph()
    return graph
