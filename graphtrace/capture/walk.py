"""Walk the autograd graph from the roots and give every node its deterministic id."""

from __future__ import annotations

import hashlib
import json
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.autograd.graph import get_gradient_edge

from .values import shape_of

# NOTE [node order]
# Node ids are ints given in one order, so that the same program yields the same ids:
#   1. the roots (the tensors backward starts from), in the order the call names them;
#   2. then breadth-first over ``grad_fn.next_functions`` in slot order, from the roots'
#      grad_fns in root order; a grad_fn (or a leaf's AccumulateGrad) gets the next int the
#      first time it is reached.
# The walk is iterative (no recursion limit for deep graphs) and never uses id() for ids.
# It stops at MAX_NODES: every node it reads keeps a Python object until the graph is freed,
# and freeing a long chain of those overflows the C stack (NOTE [provenance table]).
MAX_NODES = 20_000


class TooBig(Exception):
    """The graph has more nodes than a pass may hold; it is not walked further."""


@dataclass
class Skeleton:
    """The graph's structure: autograd nodes by id, and edges keyed by (source, target)."""

    roots: list[torch.Tensor]
    fns: list[Any] = field(default_factory=list)  # fns[i - len(roots)] is node id i
    ids: dict[Any, int] = field(default_factory=dict)  # autograd node -> id (identity)
    edges: dict[tuple[int, int], dict[str, Any]] = field(default_factory=dict)

    def clear(self) -> None:
        """Drop every reference to torch objects (the pass keeps plain data only)."""
        self.roots = []
        self.fns = []
        self.ids = {}


def gradient_edge(t: torch.Tensor) -> tuple[Any, int] | None:
    """The autograd node a tensor's gradient goes to (its grad_fn or AccumulateGrad)."""
    if not t.requires_grad:
        return None
    edge = get_gradient_edge(t)
    return edge.node, edge.output_nr


def _add_edge(sk: Skeleton, u: int, v: int, slot: int, input_nr: int) -> None:
    edge = sk.edges.get((u, v))
    if edge is None:
        sk.edges[(u, v)] = {"slots": [slot], "input_nrs": [input_nr]}
    else:
        edge["slots"].append(slot)
        edge["input_nrs"].append(input_nr)


def walk(roots: list[torch.Tensor]) -> Skeleton:
    """The skeleton of the graph behind ``roots`` (see NOTE [node order])."""
    sk = Skeleton(roots=list(roots))
    queue: deque[Any] = deque()

    def visit(fn: Any) -> int:
        nid = sk.ids.get(fn)
        if nid is None:
            if len(sk.fns) >= MAX_NODES:
                raise TooBig(f"the graph has more than {MAX_NODES} nodes")
            nid = len(sk.roots) + len(sk.fns)
            sk.ids[fn] = nid
            sk.fns.append(fn)
            queue.append(fn)
        return nid

    for rid, t in enumerate(sk.roots):
        edge = gradient_edge(t)
        if edge is not None:
            _add_edge(sk, rid, visit(edge[0]), 0, edge[1])
    while queue:
        fn = queue.popleft()
        u = sk.ids[fn]
        for slot, (nxt, input_nr) in enumerate(fn.next_functions):
            if nxt is not None:
                _add_edge(sk, u, visit(nxt), slot, input_nr)
    return sk


def op_name(fn: Any) -> str:
    """``SinBackward0``; a custom Function's class name; ``AccumulateGrad`` for leaves."""
    return type(fn).__name__


def is_leaf_fn(fn: Any) -> bool:
    return type(fn).__name__ == "AccumulateGrad"


def is_python_fn(fn: Any) -> bool:
    """A custom autograd.Function's node: calling it runs user code."""
    return isinstance(fn, torch.autograd.function.BackwardCFunction)


def frees_its_grads(fn: Any) -> bool:
    """A custom Function whose backward takes its gradients as one list it may empty
    (``boxed_grads_call``): a post-hook on its node would make the engine keep them alive
    for the hook (NOTE [hooks that keep gradients] in recorder.py)."""
    return is_python_fn(fn) and bool(getattr(getattr(fn, "_forward_cls", None), "boxed_grads_call", False))


def meta_shape(input_meta: Any) -> list[int] | None:
    """The shape of a node's output as autograd saw it; None if it has none (or a ragged one)."""
    try:
        return [int(d) for d in input_meta.shape] if input_meta is not None else None
    except (RuntimeError, TypeError):
        return None


# NOTE [graph signature]: a pass's ``signature`` is a hash of its structure: each node's id,
# op and shape, and each edge's ends and slots, in node order (equal for the steps of a
# training loop). The recorder takes it from the graph it built; ``signature`` takes the very
# same from the walk alone, before the pass runs, so that a pass can be only counted (NOTE
# [counted passes] in counted.py). A tests/capture/test_counted.py test holds them equal.


def structure_hash(nodes: list[list[Any]], edges: list[list[Any]]) -> str:
    """The signature of ``[id, op, shape]`` node rows and ``[source, target, slots]`` edge rows."""
    return hashlib.sha1(json.dumps([nodes, edges]).encode()).hexdigest()[:16]


def signature(sk: Skeleton) -> str | None:
    """The signature the pass's graph gets (NOTE [graph signature]), from the walk alone; None
    when the graph holds a custom Function whose backward may run a nested pass into it (one
    that frees its gradients itself, as a compiled region's, is not followed into: NOTE [hooks
    that keep gradients] in recorder.py)."""
    if any(is_python_fn(fn) and not frees_its_grads(fn) for fn in sk.fns):
        return None
    nodes: list[list[Any]] = [[rid, "output", shape_of(t)] for rid, t in enumerate(sk.roots)]
    for i, fn in enumerate(sk.fns, start=len(sk.roots)):
        if is_leaf_fn(fn):
            nodes.append([i, "AccumulateGrad", shape_of(fn.variable)])
        else:
            metas = getattr(fn, "_input_metadata", ())
            nodes.append([i, op_name(fn), meta_shape(metas[0] if metas else None)])
    return structure_hash(nodes, [[u, v, edge["slots"]] for (u, v), edge in sk.edges.items()])


# NOTE [outlines]: a pass that may be only counted needs of its graph its nodes (the leaves'
# hooks) and its signature, for every pass of a loop. ``outline`` walks in the order of NOTE
# [node order] and keeps, in one flat tuple, all the signature is made of: the number of roots,
# each root's shape and the node its gradient goes to (-1: none), then each node's type and
# shape (a leaf's variable's, else its first output's) followed by the node each of its slots
# leads to (-1: none). Equal tuples give equal ``[id, op, shape]`` and ``[source, target,
# slots]`` rows (the type names the op and says whether the node is a leaf or a custom Function;
# the slots' targets give the edges in the order the walk adds them), so the signature of a
# tuple met before is looked up (``_SIGNATURES``), and a new one is hashed once from the full
# ``walk``: exactly the signature a full recording gives. An outline holding a shape that cannot
# be hashed (a symbolic size) has no key, and its signature is hashed every time. A node type's
# ``boxed_grads_call`` is taken as fixed (it is a class attribute of the Function).
_SIGNATURES: dict[tuple[Any, ...], str | None] = {}  # outline key -> signature (a loop meets one)
_SIGNATURES_MAX = 1024


@dataclass
class Outline:
    """What a counted pass reads of its graph (NOTE [outlines]): nodes by id, and the signature's key."""

    roots: list[torch.Tensor]
    fns: list[Any]  # fns[i - len(roots)] is node id i, as in Skeleton
    ids: dict[Any, int]  # autograd node -> id (identity)
    key: tuple[Any, ...]

    def clear(self) -> None:
        """Drop every reference to torch objects."""
        self.roots, self.fns, self.ids = [], [], {}


def outline(roots: list[torch.Tensor]) -> Outline | None:
    """The outline of the graph behind ``roots`` (NOTE [outlines]), its nodes in NOTE [node
    order]; None when a shape cannot be read (a nested tensor's): then ``walk`` it."""
    roots = list(roots)
    first = nid = len(roots)  # nid: the id the next node reached gets
    fns: list[Any] = []
    ids: dict[Any, int] = {}
    key: list[Any] = [first]
    try:
        for t in roots:
            key.append(t.shape)
            edge = gradient_edge(t)
            if edge is None:
                key.append(-1)
            elif edge[0] in ids:
                key.append(ids[edge[0]])
            else:
                if nid - first >= MAX_NODES:
                    raise TooBig(f"the graph has more than {MAX_NODES} nodes")
                key.append(nid)
                ids[edge[0]] = nid
                fns.append(edge[0])
                nid += 1
        for fn in fns:  # grows as it is walked: breadth-first
            kind = type(fn)
            if kind.__name__ == "AccumulateGrad":  # is_leaf_fn
                key += (kind, fn.variable.shape)
            else:
                metas = getattr(fn, "_input_metadata", ())
                key += (kind, tuple(metas[0].shape) if metas else None)
            for nxt, _ in fn.next_functions:
                if nxt is None:
                    key.append(-1)
                elif nxt in ids:
                    key.append(ids[nxt])
                else:
                    if nid - first >= MAX_NODES:
                        raise TooBig(f"the graph has more than {MAX_NODES} nodes")
                    key.append(nid)
                    ids[nxt] = nid
                    fns.append(nxt)
                    nid += 1
    except TooBig:
        raise
    except Exception:  # a shape that cannot be read: the full walk reads what it can
        return None
    return Outline(roots, fns, ids, tuple(key))


def outline_signature(o: Outline) -> str | None:
    """``signature`` of the graph outlined (NOTE [outlines]): looked up when met before, else from the full walk."""
    try:
        return _SIGNATURES[o.key]
    except KeyError:
        keep = True
    except Exception:  # a symbolic size that cannot be hashed or compared: no key
        keep = False
    sk = walk(o.roots)
    try:
        sig = signature(sk)
    finally:
        sk.clear()
    if keep:
        if len(_SIGNATURES) >= _SIGNATURES_MAX:
            _SIGNATURES.clear()
        _SIGNATURES[o.key] = sig
    return sig
