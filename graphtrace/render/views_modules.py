"""Module views: group nodes by nn.Module path to a depth, and find repeated blocks to fold."""

from __future__ import annotations

from typing import Any

from .views_build import NodeGroup
from .views_graph import Plain, topo_order


def module_path(attrs: dict[str, Any]) -> str:
    """The module a node belongs to: a parameter's owner, else the module its op ran in."""
    param = attrs.get("param")
    return param.rpartition(".")[0] if param else attrs.get("module") or ""  # ModuleIndex._read inlines this


def knows_modules(nodes: dict[Any, dict[str, Any]]) -> bool:
    """Whether op nodes carry module provenance (a capture under ``trace()``); ``nodes``: node -> attributes."""
    return any(a.get("kind") == "op" and (a.get("module") or a.get("module_class")) for a in nodes.values())


def prefixes(path: str) -> list[str]:
    """'a.b.c' -> ['a', 'a.b', 'a.b.c']."""
    parts = path.split(".")
    return [".".join(parts[: k + 1]) for k in range(len(parts))]


class ModuleIndex:
    """The module tree seen in one pass: each module's nodes and path prefixes, classes, inner modules."""

    def __init__(self, plain: Plain, protected: set[Any]) -> None:
        self.plain = plain
        self.ops: dict[Any, str] = {}  # node -> its op
        self.prefixes: dict[str, list[str]] = {}  # a seen path or an ancestor of one -> its prefixes
        self.classes: dict[str, str] = dict(plain.graph.graph.get("modules") or {})
        self.inner: set[str] = set()  # paths that contain another seen module
        own: dict[Any, str] = {}  # node -> module_path of its own attributes
        todo: list[Any] = []  # untagged nodes (see _read)
        self.nodes = self._read(protected, own, todo)  # module path -> its nodes, by first node
        if todo:  # untagged nodes take a consumer's module: every node grouped again, in node order
            resolved = _resolve(plain, todo, own)
            self.nodes = _by_path({n: resolved.get(n) or path for n, path in own.items()}, protected)
        known = self.prefixes
        for path in self.nodes:
            if path not in known:
                pre = _prefixes_into(path, known)
                if len(pre) > 1:
                    self.inner.update(pre[:-1])
        self.known = set(known)
        self.max_depth = max((len(known[p]) for p in self.nodes), default=0)

    def _read(self, protected: set[Any], own: dict[Any, str], todo: list[Any]) -> dict[str, list[Any]]:
        """One read of each node: its op, class, own module path (into ``own``); the untagged ones
        into ``todo``: an op the forward never saw (``TBackward0`` inside ``F.linear``), or a nameless
        leaf with one consumer (a parameter whose module was not in the caller's frame, most likely).
        Returns module path -> its nodes, right when ``todo`` stays empty."""
        ops, classes, pred = self.ops, self.classes, self.plain.pred
        by_path: dict[str, list[Any]] = {}
        for n, attrs in self.plain.nodes.items():
            kind, module, cls = attrs.get("kind"), attrs.get("module"), attrs.get("module_class")
            param = attrs.get("param")
            if module and cls:
                classes.setdefault(module, cls)
            ops[n] = attrs.get("op", "")
            path = own[n] = param.rpartition(".")[0] if param else module or ""  # module_path(attrs)
            if kind == "op":
                untagged = not (attrs.get("source") or module or cls)
            else:
                untagged = kind == "leaf" and not (param or attrs.get("name") or module) and len(pred[n]) == 1
            if untagged:
                todo.append(n)
            elif path and n not in protected:
                ns = by_path.get(path)
                if ns is None:
                    by_path[path] = [n]
                else:
                    ns.append(n)
        return by_path

    def module_title(self, path: str) -> str:
        cls = self.classes.get(path, "")
        return f"{path} ({cls})" if cls else path


def _prefixes_into(path: str, known: dict[str, list[str]]) -> list[str]:
    """prefixes(path), built on its parent's; every new one (the path, its ancestors) kept in ``known``."""
    chain = []  # the path and its ancestors not yet known, deepest first
    p = path
    while p not in known:
        chain.append(p)
        if "." not in p:
            pre: list[str] = []
            break
        p = p.rpartition(".")[0]
    else:
        pre = known[p]
    for q in reversed(chain):
        pre = known[q] = [*pre, q]
    return pre


def _by_path(path_of: dict[Any, str], protected: set[Any]) -> dict[str, list[Any]]:
    """Module path -> its nodes (node order), modules by first node; unprotected nodes with a path."""
    by_path: dict[str, list[Any]] = {}
    for n, path in path_of.items():
        if path and n not in protected:
            ns = by_path.get(path)
            if ns is None:
                by_path[path] = [n]
            else:
                ns.append(n)
    return by_path


def _resolve(plain: Plain, todo: list[Any], own: dict[Any, str]) -> dict[Any, str]:
    """Untagged nodes (``todo``) take the module of their first consumer that has one (topological
    order); ``own``: node -> its own module path."""
    if not todo:
        return {}
    todo_set = set(todo)
    pred = plain.pred
    if any(p in todo_set for n in todo for p in pred[n]):  # an untagged node fed by another: in order
        todo = [n for n in topo_order(plain) if n in todo_set]
    out: dict[Any, str] = {}  # else each reads only tagged nodes, and the order does not matter
    for n in todo:
        for p in pred[n]:
            path = out.get(p) or own[p]
            if path:
                out[n] = path
                break
    return out


def open_paths(expand: tuple[Any, ...]) -> set[str]:
    """The expanded paths and all their ancestors: modules that stay open."""
    out: set[str] = set()
    for path in expand:
        if path:
            out.update(prefixes(path))
    return out


def assign_modules(
    index: ModuleIndex, depth: int | None, opened: set[str], runs: dict[str, NodeGroup]
) -> tuple[dict[Any, str], dict[str, NodeGroup]]:
    """node -> group id: the first prefix that is a folded block, or at ``depth`` and not opened.

    A module shallower than ``depth`` with no modules inside it (``lm_head``) is grouped
    whole; ops run directly in a container module (a residual add in a block) stay nodes.
    Groups of a single node are dropped: that node is drawn as it is.
    """
    groups: dict[str, NodeGroup] = {}
    gids: list[str | None] = []  # per module of index.nodes: the group its nodes go to
    sizes: dict[str, int] = {}  # group id -> its nodes
    for path, ns in index.nodes.items():  # the nodes of one module go to the same group
        pre = index.prefixes[path]
        key = None
        for k, p in enumerate(pre, 1):
            run = runs.get(p)
            if run is not None:
                key = run.gid
                block, where = run.block_of.get(p, p), run.where
                for n in ns:
                    where[n] = block
                groups.setdefault(key, run)
                break
            if depth is not None and k >= depth and p not in opened:
                key = p
                break
        else:
            last = pre[-1]
            if depth is not None and len(pre) < depth and last not in index.inner and last not in opened:
                key = last
        if key is None:
            gids.append(None)
            continue
        if key not in groups:
            groups[key] = NodeGroup(
                gid="g:" + key,
                kind="module",
                title=index.module_title(key),
                module=key,
                module_class=index.classes.get(key, ""),
            )
        gid = groups[key].gid
        gids.append(gid)
        sizes[gid] = sizes.get(gid, 0) + len(ns)
    assign: dict[Any, str] = {}
    for ns, to in zip(index.nodes.values(), gids):
        if to is not None and sizes[to] > 1:
            for n in ns:
                assign[n] = to
    return assign, {g.gid: g for g in groups.values() if sizes.get(g.gid, 0) > 1}


def _structures(
    index: ModuleIndex, blocks: list[str], members: dict[str, list[str]], shapes: dict[Any, int]
) -> list[int]:
    """Each block's structure as a small int, equal ints for equal structures (``shapes`` numbers
    them): its class, member (relative path, op) and internal edge multisets. ``members``: a block
    -> the modules at or under it."""
    ops, by_path, classes, succ = index.ops, index.nodes, index.classes, index.plain.succ
    out = []
    for block in blocks:
        cut = len(block) + 1
        where = {}
        for q in members[block]:
            rel = q[cut:]
            for n in by_path[q]:
                where[n] = (rel, ops[n])
        edges = []
        for u, at in where.items():
            for v, a in succ[u].items():
                to = where.get(v)
                if to is not None:
                    edges.append((at, to, len(a.get("slots") or ())))
        edges.sort()  # multisets as sorted tuples: compared for equality only
        shape = (classes.get(block, ""), tuple(sorted(where.values())), tuple(edges))
        out.append(shapes.setdefault(shape, len(shapes)))
    return out


PERIOD = 4  # NOTE [fold]: longest pattern of sibling modules repeated as one block (Linear, ReLU: 2)


def find_runs(index: ModuleIndex, opened: set[str]) -> dict[str, NodeGroup]:
    """Module path -> its fold group, for runs of 2+ identical consecutive blocks of siblings.

    See NOTE [fold] in views.py: siblings ``p.0, p.1, ...`` (children of a ModuleList or
    Sequential) with consecutive indices, none of them opened by ``expand``; a block is one
    sibling, or a pattern of up to PERIOD siblings (``Linear, ReLU``) repeated with the same
    classes and structure. At each place the pattern covering the most siblings wins, the
    shorter pattern on a tie. O(siblings × PERIOD²).
    """
    members: dict[str, list[str]] = {}  # a numbered, unopened path -> the modules at or under it
    for path in index.nodes:
        for p in index.prefixes[path]:
            if p.rpartition(".")[2].isdigit() and p not in opened:
                ms = members.get(p)
                if ms is None:
                    members[p] = [path]
                else:
                    ms.append(path)
    siblings: dict[str, list[tuple[int, str]]] = {}
    for p in members:
        parent, _, last = p.rpartition(".")
        siblings.setdefault(parent, []).append((int(last), p))
    runs: dict[str, NodeGroup] = {}
    shapes: dict[tuple[Any, ...], int] = {}  # a block structure -> a small int, compared instead
    for parent in sorted(siblings):
        row = sorted(siblings[parent])
        sigs = _structures(index, [p for _, p in row], members, shapes)
        i = 0
        while i < len(row):
            period, count = _best_pattern(row, sigs, i)
            if count >= 2:
                paths = [p for _, p in row[i : i + period * count]]
                _add_run(runs, index, parent, [paths[k : k + period] for k in range(0, len(paths), period)])
                i += period * count
            else:
                i += 1
    return runs


def _best_pattern(row: list[tuple[int, str]], sigs: list[int], i: int) -> tuple[int, int]:
    """(period, repeats) of the pattern starting at ``i`` that covers the most consecutive siblings."""
    best = (1, 1)
    for period in range(1, PERIOD + 1):
        count = 1
        while True:
            j = i + period * count  # start of the next copy
            if j + period > len(row) or row[j + period - 1][0] != row[i][0] + period * (count + 1) - 1:
                break  # not enough siblings left, or a gap in the indices
            if sigs[j : j + period] != sigs[i : i + period]:
                break
            count += 1
        if count >= 2 and period * count > best[0] * best[1]:
            best = (period, count)
    return best


def _add_run(runs: dict[str, NodeGroup], index: ModuleIndex, parent: str, blocks: list[list[str]]) -> None:
    """One fold group over ``blocks`` (each a list of sibling paths), registered under each path."""
    first, last = blocks[0][0].rpartition(".")[2], blocks[-1][-1].rpartition(".")[2]
    name = f"{parent}.{first}-{last}" if parent else f"{first}-{last}"
    classes = [index.classes.get(p, "") for p in blocks[0]]
    cls = ", ".join(classes) if any(classes) else ""
    gid = f"f:{parent}.{first}..{last}" if parent else f"f:{first}..{last}"  # no '-': DOT-safe
    names = [b[0] if len(b) == 1 else f"{b[0]}-{b[-1].rpartition('.')[2]}" for b in blocks]
    run = NodeGroup(
        gid=gid,
        kind="fold",
        title=name + (f" ({cls})" if cls else ""),
        module=name,
        module_class=cls,
        blocks=names,
        rel=parent.rpartition(".")[0] + "." if "." in parent else "",
    )
    for block, block_name in zip(blocks, names):
        for p in block:
            runs[p] = run
            run.block_of[p] = block_name
