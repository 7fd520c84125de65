"""Views of big passes: module clusters, collapse to a depth, folded repeats (plain data in and out)."""

from __future__ import annotations

import networkx as nx

NODE_BUDGET = 400


def apply(graph: nx.DiGraph, *, depth: int | None = None, expand: tuple = (), fold: bool | None = None,
          budget: int = NODE_BUDGET) -> nx.DiGraph:
    """The graph to draw: ``graph`` itself while it is small, else a reduced view (stub)."""
    return graph
