"""Structural collapse for graphs without module provenance: branches, chains, then spans."""

from __future__ import annotations

from collections import Counter
from typing import Any

from .views_build import NodeGroup
from .views_graph import Plain, topo_order

# NOTE [structural collapse]
# Used when a pass is over budget and its ops do not know their modules (a snapshot taken
# outside ``trace()``), and when the module view is still over budget. Only "free" nodes
# are merged (not roots, ``inputs=`` nodes, or members of folds); a module group of the
# module view is one unit, kept as it is unless a round merges it with its neighbours
# (the group then says which modules and ops it holds). Three rounds, each tried only
# while the view is still over budget:
#   1. branches: a path of up to BRANCH nodes with one consumer and at most one producer
#      each, ending at a leaf (a parameter's AccumulateGrad, the TBackward above it),
#      joins the node that consumes it;
#   2. chains: along a path of single-consumer / single-producer nodes, segments of up to
#      L consecutive nodes are merged; L doubles (2, 4, 8, ...) until the view fits;
#   3. spans: what is left is cut into intervals of a topological order, as long as needed.
#      Merging an interval of a topological order never creates a cycle.
# Every round is one iterative pass over nodes and edges: no recursion, O(n) each.


BRANCH = 3  # longest side branch folded into its consumer in round 1
_MANY = object()  # round 2: a unit with more than one successor (or predecessor) unit


class Collapse:
    """Union-find over the free nodes of a pass, with the view size kept up to date."""

    def __init__(
        self, plain: Plain, free: set[Any], size: int, units: dict[Any, str], unit_groups: dict[str, NodeGroup]
    ) -> None:
        self.plain = plain
        self.free = free
        self.parent: dict[Any, Any] = {n: n for n in plain.nodes if n in free}  # in node order
        self.order = topo_order(plain)
        self.pos = {n: i for i, n in enumerate(plain.nodes)}
        self.units, self.unit_groups = units, unit_groups  # module groups: node -> gid, gid -> group
        self.size = 0
        heads: dict[str, Any] = {}
        for n in self.parent if units else ():
            g = units.get(n)
            if g is not None:
                self.union(heads.setdefault(g, n), n)
        self.size = size  # number of view nodes (a module group already counts as one)
        self.fixed = size - len(set(self.roots().values()))  # view nodes no round may merge

    def find(self, n: Any) -> Any:
        root = n
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[n] != root:
            self.parent[n], n = root, self.parent[n]
        return root

    def roots(self) -> dict[Any, Any]:
        """Free node -> the node naming its set, in node order."""
        find, parent = self.find, self.parent
        return {n: n if parent[n] == n else find(n) for n in parent}

    def union(self, a: Any, b: Any) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            if self.pos[rb] < self.pos[ra]:
                ra, rb = rb, ra
            self.parent[rb] = ra  # the earlier node names the group
            self.size -= 1

    def branches(self) -> None:
        """Round 1: fold short single-consumer branches that end at a leaf into their consumer."""
        succ, pred, free = self.plain.succ, self.plain.pred, self.free
        hang: dict[Any, int] = {}  # node -> nodes in its branch below it
        for n in reversed(self.order):
            if n in free and len(pred[n]) == 1 and len(succ[n]) <= 1:
                below = 0
                for s in succ[n]:
                    b = hang.get(s)
                    if b is None:
                        break
                    below += b
                else:
                    if below < BRANCH:
                        hang[n] = below + 1
        for n in self.order:
            if n in hang:
                (p,) = pred[n]
                if p in free:
                    self.union(p, n)

    def chains(self, budget: int) -> int:
        """Round 2: merge chain segments of doubling length until the view fits; returns L."""
        root = self.roots()
        nxt: dict[Any, Any] = {}  # unit -> its one successor unit, or _MANY
        prv: dict[Any, Any] = {}  # unit -> its one predecessor unit, or _MANY
        for u, vs in self.plain.succ.items():
            a = root.get(u, u)  # a node outside the free ones is a unit of its own
            for v in vs:
                b = root.get(v, v)
                if a != b:
                    if nxt.setdefault(a, b) != b:
                        nxt[a] = _MANY
                    if prv.setdefault(b, a) != a:
                        prv[b] = _MANY
        chains, seen = [], set()
        for u in dict.fromkeys(root[n] for n in self.order if n in root):  # units in topological order
            if u in seen:
                continue
            chain = [u]
            seen.add(u)
            while True:
                v = nxt.get(chain[-1], _MANY)
                if v is _MANY or v in seen or v not in root or prv[v] is _MANY:
                    break
                chain.append(v)
                seen.add(v)
            if len(chain) > 1:
                chains.append(chain)
        lens = [len(c) for c in chains]
        longest = max(lens, default=1)

        def size(length: int) -> int:  # the view's size once segments of ``length`` are merged
            return self.size - sum(c - -(-c // length) for c in lens)

        length = 1
        while size(length) > budget and length < longest:
            length *= 2
        if length > 1:
            for chain in chains:
                for i in range(0, len(chain), length):
                    for v in chain[i + 1 : i + length]:
                        self.union(chain[i], v)
        return min(length, longest)

    def spans(self, budget: int, fixed: int) -> int:
        """Round 3: cut the free units into topological intervals; returns the span length."""
        units: list[Any] = []  # free units by first appearance in topological order; None: a fixed node
        seen: set[Any] = set()
        root = self.roots()
        for n in self.order:
            r = root.get(n)
            if r is None:
                units.append(None)
            elif r not in seen:
                seen.add(r)
                units.append(r)
        free_units = [u for u in units if u is not None]
        room = max(1, budget - fixed)
        span = max(2, -(-len(free_units) // room))
        base, size0 = dict(self.parent), self.size
        while True:
            self.parent, self.size = dict(base), size0
            current = None
            count = 0
            for u in units:
                if u is None:
                    current = None  # a fixed node ends the span
                    continue
                if current is None or count >= span:
                    current, count = u, 1
                else:
                    self.union(current, u)
                    count += 1
            if self.size <= budget or span >= len(free_units):
                return span
            span *= 2

    def groups(self) -> tuple[dict[Any, Any], dict[str, NodeGroup]]:
        """node -> group id for every merged set, with its NodeGroup; singletons are left alone.

        A set that is exactly one module group keeps that group; any other is a structure group.
        """
        members: dict[Any, list[Any]] = {}
        for n, r in self.roots().items():
            ms = members.get(r)
            if ms is None:
                members[r] = [n]
            else:
                ms.append(n)
        sizes = Counter(self.units.values())
        assign, groups = {}, {}
        for head, ms in members.items():
            if len(ms) < 2:
                continue
            unit = self.units.get(head)
            if unit is not None and sizes[unit] == len(ms) and all(self.units.get(n) == unit for n in ms):
                gid, group = unit, self.unit_groups[unit]
            else:
                gid = f"s:{head}"
                first, last = self._name(ms[0]), self._name(ms[-1])
                title = first if first == last else f"{first} … {last}"
                group = NodeGroup(gid=gid, kind="structure", title=title)
            groups[gid] = group
            for n in ms:
                assign[n] = gid
        return assign, groups

    def _name(self, n: Any) -> str:
        """What a member is called in a structure group's title: its module group's title, or its op."""
        unit = self.units.get(n)
        return self.unit_groups[unit].title if unit is not None else self.plain.nodes[n].get("op") or "?"


def collapse(
    plain: Plain,
    free: set[Any],
    size: int,
    budget: int,
    units: dict[Any, str] | None = None,
    unit_groups: dict[str, NodeGroup] | None = None,
) -> tuple[dict[Any, Any], dict[str, NodeGroup], list[str]]:
    """Assignment of free nodes to groups (NOTE [structural collapse]) and what was done.

    ``units``: free nodes already in module groups (node -> gid of ``unit_groups``); the
    result assigns every free node in a group of 2+, module groups kept or merged.
    """
    c = Collapse(plain, free, size, units or {}, unit_groups or {})
    done = []
    if c.size > budget:
        c.branches()
        done.append("parameter branches folded into their ops")
    if c.size > budget:
        length = c.chains(budget)
        done.append(f"chains of single-input single-output ops merged (up to {length})")
    if c.size > budget:
        span = c.spans(budget, c.fixed)
        done.append(f"the rest merged in spans of up to {span} in backward order")
    assign, groups = c.groups()
    return assign, groups, done
