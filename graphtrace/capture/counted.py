"""Passes only counted: the signature from the walk alone, each named leaf's gradient from one hook."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from ..model import Counted, Pass
from .assemble import one_line
from .frames import user_call, where
from .provenance import Provenance
from .values import record, shape_of
from .walk import Outline, Skeleton, gradient_edge, outline, outline_signature, signature, walk

# NOTE [counted passes]: a training loop runs thousands of passes of one structure and an output
# folder draws a few of them (NOTE [which passes are written] in cli/writer.py), but recording
# each in full (a hook on every node, values, names, Jacobians, a networkx graph) cost 10x the
# step. With ``trace(count_only=f)``, a pass for which ``f(index, signature)`` is True costs an
# outline of its graph (its nodes, its signature looked up: NOTE [outlines] in walk.py) and one
# pre-hook on each named leaf's AccumulateGrad, which records the gradient arriving there with
# the same ``record`` and limit a pass recorded in full uses: a counted pass's gradient statistics are
# those a full recording gives, exactly (``torch.autograd.grad``'s returned gradients likewise).
# The leaves' names are those of the latest pass of the same structure recorded in full (its
# "template"), taken only when that pass came from the same call site and API and each of its
# leaves is the very tensor this pass reaches (a model's parameters, step after step); else, and
# when the graph holds a custom Function (its backward may run a nested pass into it; a boxed
# one, as torch.compile's, is not followed into by a full recording either), a pass inside
# another's backward, or ``check=True``, the pass is recorded in full. Nothing else is
# read: no values, no names, no Jacobians, no graph; ``on_counted`` gets a ``Counted``.
#
# NOTE [why the leaves keep their hooks]: with ``.grad`` None before the pass and the leaf reached
# once, AccumulateGrad stores the very values that reached it (the tensor itself, or a copy laid
# out as the leaf is), so reading ``.grad`` after the pass would spare the four hooks. It is not
# done: the two records differ where torch's reductions summarise (more than 64 elements, or
# values not all finite: the sum's order follows the memory layout, and a weight gradient arrives
# transposed), and nothing tells us before the pass that no code will change ``.grad`` before the
# call returns: torch lists no node's hooks to Python, and a post-hook on the AccumulateGrad (DDP's
# reducer in C++; Horovod's and DeepSpeed's in Python, which all-reduce in place or set ``.grad``
# to None), a post-accumulate hook, or any hook of the user's elsewhere in the graph may.
MAX_TEMPLATES = 256  # structures remembered (a loop of changing shapes makes a new one per shape)


@dataclass
class _Template:
    """What a counted pass takes from the latest full pass of its structure (NOTE [counted passes])."""

    leaves: list[tuple[int, Any]]  # (node id, weak reference to its tensor) of every leaf of that pass
    named: list[tuple[int, str, bool]]  # (node id, name, is a parameter) of its leaves with a name


class Counting:
    """A tracer's counted passes: templates of the structures recorded in full, and the light recorder."""

    def __init__(self, count_only: Callable[[int, str], bool]) -> None:
        self.count_only = count_only
        self.templates: dict[tuple[str, str, str], _Template] = {}  # (signature, call site, api) -> template

    def learn(self, leaves: list[tuple[int, torch.Tensor]], p: Pass) -> None:
        """Remember the leaves (node id, tensor) of a pass just recorded in full, for its structure."""
        g = p.graph
        sig = str(g.graph.get("signature") or "")
        key = (sig, str(g.graph.get("call_site", "")), str(g.graph.get("api", "")))
        self.templates.pop(key, None)
        if not sig:
            return
        kept, named = [], []
        for nid, var in leaves:
            attrs = g.nodes[nid]
            kept.append((nid, weakref.ref(var)))
            name = str(attrs.get("param") or attrs.get("name") or "")
            if name:
                named.append((nid, name, bool(attrs.get("param"))))
        self.templates[key] = _Template(kept, named)
        if len(self.templates) > MAX_TEMPLATES:
            del self.templates[next(iter(self.templates))]

    def start(self, info: dict[str, Any], call: dict[str, Any], limit: int, table: Provenance) -> Light | None:
        """The light recorder of a pass to be only counted, its hooks on; None: record it in full.

        ``info`` holds the pass's index, kind and api; ``call`` its roots, inputs and flags (the
        tracer's ``_call``); ``limit`` is the value limit of a full recording (0: values off)."""
        if torch._C._functorch.maybe_current_level() is not None:
            return None  # the tracer's own route (NOTE [unread tensors])
        o = outline(call["roots"])  # NOTE [outlines]
        sk = o if o is not None else walk(call["roots"])  # the full walk reads the shapes an outline cannot
        light = None
        try:
            sig = outline_signature(sk) if isinstance(sk, Outline) else signature(sk)
            if sig is None:
                return None
            frame, caller = user_call(1)
            info = {**info, "call_site": where(frame), "caller": caller}
            del frame
            template = self.templates.get((sig, info["call_site"], info["api"]))
            if template is None or not _same_leaves(sk.fns, len(sk.roots), template):
                return None
            if not self.count_only(int(info["index"]), sig):
                return None
            light = Light(sk, sig, template, info, call, limit, table)
            return light
        finally:
            if light is None:
                sk.clear()


def _same_leaves(fns: list[Any], first: int, template: _Template) -> bool:
    """Each leaf of the walked graph is the very tensor of the template's leaf with its id (the
    signature, the same, puts the leaves at the same ids: NOTE [graph signature])."""
    return all(ref() is fns[nid - first].variable for nid, ref in template.leaves)


class Light:
    """One counted pass: a pre-hook on each named leaf while it runs, then its ``Counted``."""

    def __init__(
        self,
        sk: Outline | Skeleton,
        sig: str,
        template: _Template,
        info: dict[str, Any],
        call: dict[str, Any],
        limit: int,
        table: Provenance,
    ) -> None:
        self.sk, self.signature, self.info, self.limit, self.table = sk, sig, info, limit, table
        self.inputs: list[Any] = list(call["inputs"])
        self.retain = bool(call["retain_graph"])
        self.named = template.named
        self.grads: dict[int, dict[str, Any] | None] = {}
        self.handles: list[Any] = []
        if limit <= 0:  # values off in this pass: a full recording has no gradient records either
            return
        grads, fns, first = self.grads, sk.fns, len(sk.roots)
        try:
            for nid, _, _ in self.named:

                def hook(grad_outputs: tuple[Any, ...], nid: int = nid) -> None:
                    # what the full recorder's pre-hook records as grad_in[0] (NOTE [why the leaves
                    # keep their hooks]); record() never raises
                    grads[nid] = record(grad_outputs[0] if grad_outputs else None, limit)

                self.handles.append(fns[nid - first].register_prehook(hook))
        except BaseException:
            self.remove_hooks()
            raise

    def remove_hooks(self) -> None:
        for handle in self.handles:
            handle.remove()
        self.handles = []

    def finish(self, returned: Any = None, error: BaseException | None = None) -> Counted:
        """Remove the hooks and give the pass as a ``Counted``."""
        self.remove_hooks()
        sk, grads = self.sk, self.grads
        try:
            if returned is not None and self.limit > 0:  # torch.autograd.grad: NOTE [returned gradients]
                named = {nid for nid, _, _ in self.named}
                for k, t in enumerate(self.inputs):
                    edge = gradient_edge(t) if isinstance(t, torch.Tensor) else None
                    nid = sk.ids.get(edge[0]) if edge is not None else None
                    if nid in named and k < len(returned) and returned[k] is not None:
                        grads[nid] = record(returned[k], self.limit)
            info = self.info
            return Counted(
                index=int(info["index"]),
                kind=str(info["kind"]),
                api=str(info["api"]),
                call_site=str(info["call_site"]),
                caller=str(info["caller"]),
                signature=self.signature,
                nodes=len(sk.roots) + len(sk.fns),
                root_shapes=[shape_of(t) for t in sk.roots],
                error=one_line(error),
                grads=[(key, param, grads.get(nid)) for nid, key, param in self.named],
            )
        finally:
            if not self.retain:  # the graph is freed: so is its provenance (as PassRecorder.finish)
                self.table.drop(sk.fns)
            sk.clear()
            self.inputs, self.grads = [], {}
