"""Type names shared by every layer: a pass's graph and the plain attributes it carries."""

from __future__ import annotations

from typing import Any, TypeAlias

import networkx as nx

Attrs: TypeAlias = dict[str, Any]  # a node's, an edge's or a graph's attributes: plain JSON-able data
Graph: TypeAlias = "nx.DiGraph[Any]"  # a pass (node ids are ints) or a view of one (group nodes are str)
