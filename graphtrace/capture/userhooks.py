"""The user's gradient hooks seen by their effect: the gradient before and after each hook that changed it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from .values import unreadable, unseen

Rec = Callable[[torch.Tensor | None], dict[str, Any] | None]

# NOTE [hooks seen]: torch runs a node's tensor pre-hooks (``Tensor.register_hook``, on
# non-leaves and on a leaf's AccumulateGrad) before any ``Node.register_prehook``, so our
# pre-hook sees the gradient after the user's hooks, and the parent's post-hook saw it
# before them. What the engine hands a node's input is known exactly: the one gradient that
# flowed there (the same tensor object), or the sum of several in arrival order (kept here as
# it accumulates; float addition is commutative, so it equals the engine's bit for bit). A
# gradient that arrives as another object with other values, or modified in place, was
# changed by a hook. Module backward hooks and pre-hooks (``register_full_backward_hook``,
# ``register_full_backward_pre_hook``) are post-hooks of BackwardHookFunctionBackward, an
# identity node: what leaves it differs from what arrived only through them. Post-accumulate
# hooks run in the insertion order of a dict on the tensor: the user's are re-inserted after
# one of ours, which so sees ``.grad`` before them, and another of ours runs last. A node's
# own post-hooks (``grad_fn.register_hook``) may replace what leaves it: where the node has a
# post-hook of ours anyway (NOTE [read where they arrive]), they are moved the same way behind
# one of ours, which sees what the node computed, and the post-hook of ours that runs last
# sees what left (a ``node`` entry; no local derivative is drawn from the replaced gradient).
# A node whose edges are all read where they arrive is not watched: torch shows a node's
# post-hooks only to a post-hook's handle, and adding one is what torch would notice. Each
# change is one entry of the node's ``hooks``. A leaf without tensor hooks
# (``_backward_hooks``) is not watched: holding the sum of its contributions (a tied
# embedding's two 154 MB gradients in GPT-2) would cost memory for nothing.

MODULE_NODE = "BackwardHookFunctionBackward"


def same_values(a: torch.Tensor, b: torch.Tensor) -> bool:
    """``a`` and ``b`` hold the same values (NaN equal to NaN); True when that cannot be told."""
    try:
        if a.shape != b.shape or a.dtype != b.dtype or a.layout != b.layout:
            return False
        if a.layout != torch.strided or a.device.type == "meta" or a.is_nested or unreadable(a) or unreadable(b):
            return True  # not comparable here (NOTE [unread tensors]): no change claimed
        with unseen():
            if torch.equal(a, b):
                return True
            return bool(((a == b) | (a.isnan() & b.isnan())).all()) if a.is_floating_point() else False
    except (RuntimeError, TypeError, NotImplementedError):
        return True


class HookWatch:
    """Per pass: what each node's inputs should be, and the changes the user's hooks made."""

    def __init__(self, rec: Rec) -> None:
        self.rec = rec
        self.expect: dict[tuple[int, int], list[Any]] = {}  # (node, input) -> [tensor, version, count, rec]
        self.first: dict[int, tuple[torch.Tensor | None, dict[str, Any] | None]] = {}  # leaf -> .grad then
        self.found: dict[int, list[dict[str, Any]]] = {}  # node id -> hook entries
        self.unhooked: set[int] = set()  # leaves without tensor hooks: nothing to hold for them
        self.leaving: dict[int, list[tuple[Any, int, dict[str, Any] | None]]] = {}  # node -> what left it first
        self.changed: set[tuple[int, int]] = set()  # (node, slot) a node hook of the program replaced

    def _add(
        self, nid: int, kind: str, output: int, before: dict[str, Any] | None, after: dict[str, Any] | None
    ) -> None:
        self.found.setdefault(nid, []).append({"kind": kind, "output": output, "before": before, "after": after})

    def contribute(self, v: int, nr: int, g: torch.Tensor, rec: dict[str, Any] | None) -> None:
        """A gradient flowing to input ``nr`` of node ``v`` (held until ``v`` runs, as the engine holds it)."""
        hit = self.expect.get((v, nr))
        if hit is None:
            self.expect[(v, nr)] = [g, g._version, 1, rec]
        elif hit[0] is not None:
            if unreadable(g) or unreadable(hit[0]):  # NOTE [unread tensors]: not summed by us
                hit[0] = None
                return
            try:
                with unseen():
                    total = hit[0] + g  # NOTE [hooks seen]: the engine's sum, in arrival order
                self.expect[(v, nr)] = [total, total._version, hit[2] + 1, None]
            except (RuntimeError, TypeError, NotImplementedError):
                hit[0] = None

    def arrived(self, nid: int, grads: tuple[Any, ...], recs: list[dict[str, Any] | None]) -> None:
        """The gradients node ``nid`` got, after the user's tensor hooks: changed ones become entries."""
        for nr, a in enumerate(grads):
            hit = self.expect.pop((nid, nr), None)
            if hit is None or hit[0] is None or not isinstance(a, torch.Tensor):
                continue
            t, version, count, rec = hit
            if a is t and a._version == version:
                continue  # the very tensor that flowed here, untouched
            if t._version == version and a is not t and same_values(a, t):
                continue  # a new object with the same values (a sum, or a hook returning a copy)
            before = rec if count == 1 and rec is not None else self.rec(t) if t._version == version else None
            self._add(nid, "tensor", nr, before, recs[nr] if nr < len(recs) else self.rec(a))

    def left(
        self,
        u: int,
        op: str,
        grad_inputs: tuple[Any, ...],
        grad_outputs: tuple[Any, ...],
        recs: list[dict[str, Any] | None],
    ) -> None:
        """What left node ``u``: a module hook node that changed its gradients, or a node whose
        own post-hooks did (NOTE [hooks seen])."""
        first = self.leaving.pop(u, None)
        if first is not None:
            for i, (gi, (g, version, rec)) in enumerate(zip(grad_inputs, first)):
                if gi is g and (g is None or g._version == version):
                    continue
                if gi is None or g is None or not same_values(gi, g):
                    self.changed.add((u, i))
                    self._add(u, "node", i, rec, self.rec(gi))
        if op != MODULE_NODE or len(grad_inputs) != len(grad_outputs):
            return
        for i, (gi, go) in enumerate(zip(grad_inputs, grad_outputs)):
            if gi is go or not isinstance(gi, torch.Tensor) or not isinstance(go, torch.Tensor):
                continue
            if not same_values(gi, go):
                self._add(u, "module", i, recs[i] if i < len(recs) else self.rec(go), self.rec(gi))

    def watch_node(self, nid: int, fn: Any, last: Any) -> Any:
        """A post-hook run before the program's own post-hooks on node ``fn``, whose post-hook of
        ours (``last``'s) is already there (None when the program put none on it)."""
        hooks = last.hooks_dict_ref()  # torch runs them in the dict's insertion order
        if hooks is None or len(hooks) < 2:
            return None

        def first(grad_inputs: tuple[Any, ...], grad_outputs: tuple[Any, ...]) -> None:
            self.leaving[nid] = [
                (g, g._version, self.rec(g)) if isinstance(g, torch.Tensor) else (None, 0, None) for g in grad_inputs
            ]

        handle = fn.register_hook(first)
        after = [(k, h) for k, h in hooks.items() if k != handle.id]  # the program's, then ours
        for k, _ in after:
            del hooks[k]
        hooks.update(after)  # the same keys (their handles still remove them), after ``first``
        return handle

    def watch_leaf(self, nid: int, var: torch.Tensor) -> Any:
        """A post-accumulate hook run before the user's own (None when the leaf has none)."""
        user = var._post_accumulate_grad_hooks
        if not user:
            return None

        def first(t: torch.Tensor) -> None:
            grad = t.grad
            self.first[nid] = (None if grad is None else grad.detach().clone(), self.rec(grad))

        handle = var.register_post_accumulate_grad_hook(first)
        hooks = var._post_accumulate_grad_hooks  # torch runs them in the dict's insertion order
        theirs = [(k, h) for k, h in hooks.items() if k != handle.id]
        for k, _ in theirs:
            del hooks[k]
        hooks.update(theirs)  # the same keys (their handles still remove them), after ours
        return handle

    def accumulated(self, nid: int, grad: torch.Tensor | None, after: dict[str, Any] | None) -> None:
        """``.grad`` after every post-accumulate hook: an entry if the user's changed it."""
        seen = self.first.pop(nid, None)
        if seen is None:
            return
        old, rec = seen
        if old is None and grad is None:
            return
        if old is None or grad is None or not same_values(grad, old):
            self._add(nid, "post_accumulate", 0, rec, after)

    def clear(self) -> None:
        self.expect.clear()
        self.first.clear()
        self.leaving.clear()
        self.changed.clear()
