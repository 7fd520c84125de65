"""One pass: hooks on every node of the walked graph, turned into a plain-data graph."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from .._types import Graph
from ..model import Pass
from . import shards
from .arrival import first_pre_hook, last_post_hook, read_at_arrival
from .assemble import to_pass
from .attrs import backward_rule, op_attrs, tensor_attrs
from .frames import Names
from .jacobian import node_jacobians
from .nested import Nesting
from .provenance import Provenance
from .reduced import Reductions, world
from .reuse import VIEW_NODES, HeldViews, PendingEntry, pending_entry, same_elements, still_describes
from .userhooks import MODULE_NODE, HookWatch
from .values import JACOBIAN_LIMIT, record, unreadable, unseen
from .walk import (
    Skeleton,
    frees_its_grads,
    gradient_edge,
    is_leaf_fn,
    is_python_fn,
    op_name,
    walk,
)


class PassRecorder:
    """Records one backward call (or a snapshot) over the graph behind ``roots``."""

    def __init__(
        self,
        roots: list[torch.Tensor],
        seeds: list[Any],
        *,
        pass_info: dict[str, Any],
        names: Names,
        limit: int,
        inputs: Sequence[torch.Tensor] = (),
        table: Provenance | None = None,
    ) -> None:
        self.pass_info = pass_info
        self.table = table if table is not None else Provenance()
        self.limit = limit
        self.sk: Skeleton = walk(roots)
        self.in_slots = _in_slots(self.sk)
        # NOTE [reused records]: a gradient reaching a node through its only slot is the very
        # tensor the parent's hook recorded (no accumulation can have touched it), so its
        # record is reused when the object is the same and its version unchanged (a user's
        # tensor hook may modify it in place); everything else is recorded afresh.
        self.pending: dict[int, PendingEntry] = {}
        self.handles: list[Any] = []
        self.problems: list[str] = []
        self.step = 0
        self.nodes: dict[int, dict[str, Any]] = {}
        self.inputs = list(inputs)
        self.values = bool(pass_info.get("values", True))
        self.rec: Callable[[torch.Tensor | None], dict[str, Any] | None] = (
            (lambda t: record(t, limit)) if self.values else (lambda t: None)
        )
        self.named: list[tuple[int, torch.Tensor]] = []  # (node id, tensor) for retained grads
        self.slot_inputs: dict[int, list[str]] = {}  # op node id -> the input each slot feeds
        self.leaves: list[tuple[int, torch.Tensor]] = []
        self.sharded: list[tuple[int, torch.Tensor]] = []  # (leaf id, its FSDP2 DTensor parameter)
        self.owners: dict[int, str] = {}  # node id -> owner of its module or parameter (NOTE [owners])
        self.watch = HookWatch(self.rec)  # NOTE [hooks seen] in userhooks.py
        self.nesting: Nesting | None = None  # set by the tracer: NOTE [nested backward] in nested.py
        self.nested: list[tuple[int, Graph]] = []  # (node id, the pass of a backward call inside it)
        self.arrive: dict[int, list[tuple[int, int]]] = {}  # NOTE [read where they arrive]
        self.pre: dict[int, Any] = {}  # node id -> the handle of our pre-hook on it
        self.clean: dict[int, torch.Tensor] = {}  # leaves whose pre-hook sees exactly what arrived
        self.readers: set[int] = set()  # nodes with an edge read where it arrives
        self.scalar_in: dict[int, tuple[torch.Tensor, int]] = {}  # reader -> its one-element gradient, version
        self.fed: dict[int, list[int]] = {}  # reader -> the leaves that read what left it
        self.views = HeldViews()  # NOTE [views read at arrival] in reuse.py
        self.seeds = seeds
        self.ranks = world()  # (rank, world size) under torch.distributed, else None
        self.reductions = Reductions(self.ranks[1]) if self.ranks is not None else None  # NOTE [all-reduce]
        self._build_nodes(seeds, names)
        self.jacobians: dict[tuple[int, int], list[Any]] = {}
        if pass_info.get("jacobians", True):
            try:
                self.jacobians = node_jacobians(self.sk, min(limit, JACOBIAN_LIMIT), self.table)
            except Exception as exc:  # an unforeseen node: no Jacobians, the backward still runs
                self.problems.append(f"jacobians: {exc!r}")

    # -- before the pass -----------------------------------------------------------------
    def _build_nodes(self, seeds: list[Any], names: Names) -> None:
        fn_names: dict[Any, tuple[str, torch.Tensor]] = {}
        for name, t in names.tensors.values():
            if t.grad_fn is not None:
                fn_names.setdefault(t.grad_fn, (name, t))
        for rid, t in enumerate(self.sk.roots):
            self.nodes[rid] = self._tensor_attrs(t, "root", "output", names.variable_of(t))
            self.nodes[rid].update(step=0, grad_in=[self.rec(seeds[rid])])
            if t.retains_grad:
                self.named.append((rid, t))
        for (u, _), edge in self.sk.edges.items():  # a root's edge carries its seed
            if u < len(self.sk.roots):
                edge["grad"] = self.nodes[u]["grad_in"][0]
        for i, fn in enumerate(self.sk.fns):
            nid = len(self.sk.roots) + i
            if is_leaf_fn(fn):
                var = fn.variable
                owner, param = names.param_of(var)
                # a parameter's own name beats a variable that happens to hold it (a loop's ``p``)
                attrs = self._tensor_attrs(var, "leaf", "AccumulateGrad", "" if param else names.variable_of(var))
                attrs.update(param=param, grad_before=self.rec(var.grad), grad_after=None, returned_grad=None)
                if param:
                    self.owners[nid] = owner
                self.leaves.append((nid, var))
                if id(var) in names.shards:  # NOTE [sharded parameters]
                    self.sharded.append((nid, names.shards[id(var)]))
            else:
                prov = self.table.get(fn) or {}  # read once per node: it formats text and values
                attrs = self._op_attrs(fn, fn_names.get(fn), prov)
                op_owner = str(prov.get("owner") or "")
                if op_owner and attrs["module_class"]:
                    self.owners[nid] = op_owner
            self.nodes[nid] = attrs

    def _tensor_attrs(self, t: torch.Tensor, kind: str, op: str, name: str) -> dict[str, Any]:
        return tensor_attrs(t, kind, op, name, self.rec(t))  # NOTE [no leaf value cache] in reuse.py

    def _op_attrs(self, fn: Any, named: tuple[str, torch.Tensor] | None, prov: dict[str, Any]) -> dict[str, Any]:
        value = None
        if named is not None:
            value = self.rec(named[1])
        elif prov.get("values") and self.values:
            value = prov["values"].get(0)
        attrs = op_attrs(fn, named, prov, value)
        try:
            rule, slots = backward_rule(fn, self.limit, self.values)
        except Exception as exc:  # see _pre_hook: no rule drawn, the pass goes on
            rule, slots = {"formula": {}, "saved": {}, "backward_source": ""}, None
            self.problems.append(f"rule of {op_name(fn)}: {exc!r}")
        attrs.update(rule)
        if slots is not None:
            self.slot_inputs[self.sk.ids[fn]] = slots
        if named is not None and named[1].retains_grad:
            self.named.append((self.sk.ids[fn], named[1]))
        return attrs

    # -- hooks -----------------------------------------------------------------------------
    def register(self) -> None:
        """A pre-hook on every node, a post-hook where what leaves a node is not read where it
        arrives (NOTE [read where they arrive]), a post-accumulate hook on every leaf."""
        for i, fn in enumerate(self.sk.fns):
            nid = len(self.sk.roots) + i
            self.pre[nid] = fn.register_prehook(self._pre_hook(nid))
            self.handles.append(self.pre[nid])
        self.clean = {nid: var for nid, var in self.leaves if self._is_clean(nid, var)}
        self.arrive = read_at_arrival(self.sk, set(self.clean))
        read = {(u, v) for v, edges in self.arrive.items() for u, _ in edges}
        self.readers = {u for u, _ in read}
        for u, v in read:
            self.fed.setdefault(u, []).append(v)
        for i, fn in enumerate(self.sk.fns):
            nid = len(self.sk.roots) + i
            # NOTE [hooks that keep gradients]: the engine keeps a node's incoming gradients
            # until its post-hooks have seen them; a boxed backward frees them itself, so its
            # node gets no post-hook (only what leaves it for a clean leaf is recorded) and no nesting.
            # NOTE [boxed edges]: so what leaves a boxed node (torch.compile's
            # CompiledFunctionBackward) for a parameter that has no hook and no other incoming
            # slot is what that leaf's pre-hook saw arrive (NOTE [read where they arrive]).
            if is_leaf_fn(fn) or frees_its_grads(fn):
                continue
            nexts = dict.fromkeys(self.sk.ids[nxt] for nxt, _ in fn.next_functions if nxt is not None)
            targets = [v for v in nexts if (nid, v) not in read]
            if targets or is_python_fn(fn) or op_name(fn) == MODULE_NODE:
                last = self._add_post_hook(nid, targets)
                if self.values and op_name(fn) != MODULE_NODE and not is_python_fn(fn):
                    first = self.watch.watch_node(nid, fn, last)  # the program's own post-hooks (NOTE [hooks seen])
                    if first is not None:
                        self.handles.append(first)
        for nid, var in self.leaves:
            if not var._backward_hooks:  # no tensor hook can change what this leaf gets
                self.watch.unhooked.add(nid)
            if self.values:
                first = self.watch.watch_leaf(nid, var)
                if first is not None:
                    self.handles.append(first)
            self.handles.append(var.register_post_accumulate_grad_hook(self._acc_hook(nid)))
        if self.values:
            for (u, v), edge in self.sk.edges.items():  # a root's seed is what its node gets first
                seed = self.seeds[u] if u < len(self.sk.roots) else None
                if isinstance(seed, torch.Tensor) and v not in self.watch.unhooked:
                    self.watch.contribute(v, edge["input_nrs"][0], seed, edge.get("grad"))

    def _pre_hook(self, nid: int) -> Any:
        def hook(grad_outputs: tuple[Any, ...]) -> None:
            try:
                self.step += 1
                node = self.nodes[nid]
                node["step"] = self.step
                hit = self.pending.pop(nid, None)
                if hit is not None and len(grad_outputs) == 1 and still_describes(hit, grad_outputs[0]):
                    node["grad_in"] = [hit[1]]
                elif nid in self.arrive:
                    node["grad_in"] = [self._arrival_record(nid, nr, g) for nr, g in enumerate(grad_outputs)]
                else:
                    node["grad_in"] = [self.rec(g) for g in grad_outputs]
                if node["kind"] == "leaf" and grad_outputs and grad_outputs[0] is not None:
                    self.pending[nid] = pending_entry(grad_outputs[0], node["grad_in"][0])
                if self.values:
                    self.watch.arrived(nid, grad_outputs, node["grad_in"])
                for u, nr in self.arrive.get(nid, ()):
                    self._arrived(u, nid, nr, grad_outputs)
                fn = self.sk.fns[nid - len(self.sk.roots)]
                if self.values and len(grad_outputs) == 1 and not is_python_fn(fn):
                    self._hold_scalar(nid, grad_outputs[0])
                    self._hold_view(nid, grad_outputs[0])
                if self.nesting is not None and is_python_fn(fn) and not frees_its_grads(fn):
                    self.nesting.enter(self, nid)
            except Exception as exc:  # a recording fault must never break the user's backward
                self.problems.append(f"pre-hook of node {nid}: {exc!r}")

        return hook

    def _is_clean(self, nid: int, var: torch.Tensor) -> bool:
        """No hook of the program runs on this leaf before our pre-hook (NOTE [read where they arrive])."""
        return not var._backward_hooks and first_pre_hook(self.pre[nid])

    def _hold_scalar(self, nid: int, g: Any) -> None:
        """A one-element gradient a reader got, for the local derivative of the edges read at arrival."""
        if nid in self.readers and isinstance(g, torch.Tensor) and not g.is_nested and g.numel() == 1:
            hooks = self.pre[nid].hooks_dict_ref()  # a later pre-hook may replace it: then not held
            if hooks is not None and next(reversed(hooks), None) == self.pre[nid].id:
                self.scalar_in[nid] = (g, g._version)

    def _hold_view(self, nid: int, g: Any) -> None:
        """A view node's gradient, held for the leaves that read what left it (NOTE [views read at arrival])."""
        fed = self.fed.get(nid)
        if (
            fed
            and self.nodes[nid]["op"] in VIEW_NODES
            and isinstance(g, torch.Tensor)
            and not g.is_nested
            and g.numel() > self.limit
            and all(self._will_run(v) for v in fed)  # else held to the end of the pass
        ):
            self.views.hold(nid, g, self.nodes[nid]["grad_in"][0], len(fed))

    def _will_run(self, nid: int) -> bool:
        """The engine runs node ``nid`` in this pass; False when torch cannot tell."""
        try:
            return bool(torch._C._will_engine_execute_node(self.sk.fns[nid - len(self.sk.roots)]))
        except (RuntimeError, AttributeError):
            return False

    def _arrival_record(self, v: int, nr: int, g: Any) -> dict[str, Any] | None:
        """The record of what reached input ``nr`` of a leaf that reads its arrivals."""
        for u, unr in self.arrive[v]:
            if unr == nr:
                rec = self.views.record_of(u, g)
                if rec is not None:
                    return rec
        return self.rec(g)

    def _arrived(self, u: int, v: int, nr: int, grads: tuple[Any, ...], ran: bool = True) -> None:
        """What reached input ``nr`` of ``v`` is what left ``u`` (NOTE [read where they arrive]);
        ``ran``: read in v's pre-hook, else from the call's result (v did not run)."""
        edge = self.sk.edges[(u, v)]
        var = self.clean[v]
        if var._backward_hooks or (ran and not first_pre_hook(self.pre[v])):  # a hook added since: not read
            return
        edge["grad"] = self.nodes[v]["grad_in"][nr]
        held = self.scalar_in.get(u)
        g = grads[nr] if nr < len(grads) else None
        if (u, edge["slots"][0]) in self.watch.changed:  # a node hook's gradient: not the node's derivative
            held = None
        if held is not None and held[0]._version == held[1] and g is not None and (u, v) not in self.jacobians:
            local = _local(g, held[0], self.limit)
            if local is not None:
                edge["local"] = local

    def _add_post_hook(self, nid: int, targets: list[int]) -> Any:
        mine: list[Any] = []  # the hook's own handle: it records only if it runs last
        mine.append(self.sk.fns[nid - len(self.sk.roots)].register_hook(self._post_hook(nid, targets, mine)))
        self.handles.append(mine[0])
        return mine[0]

    def _post_hook(self, nid: int, targets: list[int], mine: list[Any]) -> Any:
        def hook(grad_inputs: tuple[Any, ...], grad_outputs: tuple[Any, ...]) -> None:
            try:
                if self.nesting is not None:
                    self.nesting.exit(self, nid)
                if mine and last_post_hook(mine[0]):  # else NOTE [read where they arrive]
                    self._record_edges(nid, targets, grad_inputs, grad_outputs)
            except Exception as exc:  # see _pre_hook
                self.problems.append(f"hook of node {nid}: {exc!r}")

        return hook

    # NOTE [slots to several outputs]: an edge u -> v stands for every slot of u's next_functions
    # that leads to v. When they all go to one output of v (``x * x``), the engine adds their
    # gradients in that output's buffer: the edge's ``grad`` is their sum, its Jacobian the sum
    # of theirs. When they go to different outputs (``a * b`` with ``a, b = t.unbind()``, an
    # LSTM cell's gates from one ``chunk``), nothing ever adds them: each part reaches its own
    # output. Such an edge keeps its ``parts`` only (``grad``, ``local`` and ``jacobian`` null),
    # and pictures show each part with the output it went to and sum a node's contributions
    # output by output, against that output's ``grad_in``.
    def _record_edges(
        self, u: int, targets: list[int], grad_inputs: tuple[Any, ...], grad_outputs: tuple[Any, ...]
    ) -> None:
        scalar_out = (
            len(grad_outputs) == 1 and isinstance(grad_outputs[0], torch.Tensor) and grad_outputs[0].numel() == 1
        )
        seen: dict[int, dict[str, Any] | None] = {}  # slot tensors shared within this call (x + x)
        go = grad_outputs[0] if len(grad_outputs) == 1 else None
        go_rec = self.nodes[u]["grad_in"][0] if go is not None else None

        def rec(g: Any) -> dict[str, Any] | None:
            if g is None:
                return None
            key = id(g)  # the tensors are alive for the whole call: identity is safe here
            if key not in seen:
                if go is not None and go_rec is not None and g.numel() > self.limit and same_elements(g, go):
                    seen[key] = dict(go_rec, shape=list(g.shape))  # a view (t, view, permute)
                else:
                    seen[key] = self.rec(g)
            return seen[key]

        if self.values:
            self.watch.left(u, self.nodes[u]["op"], grad_inputs, grad_outputs, self.nodes[u]["grad_in"])
        for v in targets:
            edge = self.sk.edges[(u, v)]
            slots = edge["slots"]
            if self.values and v not in self.watch.unhooked:
                for s, nr in zip(slots, edge["input_nrs"]):
                    if grad_inputs[s] is not None:
                        self.watch.contribute(v, nr, grad_inputs[s], rec(grad_inputs[s]))
            if len(slots) == 1:
                g = grad_inputs[slots[0]]
                edge["grad"] = rec(g)
                if g is not None and self.in_slots[v] == 1:
                    self.pending[v] = pending_entry(g, edge["grad"])
            else:
                parts = [grad_inputs[s] for s in slots]
                edge["parts"] = [rec(p) for p in parts]
                defined = [p for p in parts if p is not None]
                g = None
                one_output = len(set(edge["input_nrs"])) == 1  # NOTE [slots to several outputs]
                if (
                    self.values
                    and one_output
                    and defined
                    and all(p.shape == defined[0].shape and not unreadable(p) for p in defined)
                ):
                    with unseen():
                        g = torch.stack(defined).sum(0)
                edge["grad"] = record(g, self.limit)
            hooked = any((u, s) in self.watch.changed for s in slots)  # not the node's derivative
            if self.values and scalar_out and (u, v) not in self.jacobians and g is not None and not hooked:
                local = _local(g, grad_outputs[0], self.limit)
                if local is not None:
                    edge["local"] = local

    def _acc_hook(self, nid: int) -> Any:
        def hook(var: torch.Tensor) -> None:
            try:
                hit = self.pending.pop(nid, None)
                node = self.nodes[nid]
                if (
                    hit is not None
                    and node["grad_before"] is None
                    and (still_describes(hit, var.grad) or len(var._post_accumulate_grad_hooks or ()) == 1)
                ):
                    # .grad was None, so it now is the increment itself, or a copy of it when
                    # no other post-accumulate hook could have changed it before ours
                    node["grad_after"] = hit[1]
                else:
                    node["grad_after"] = self.rec(var.grad)
                if self.values:
                    self.watch.accumulated(nid, var.grad, node["grad_after"])
                if self.reductions is not None:
                    self.reductions.saw(nid, var.grad)
            except Exception as exc:  # see _pre_hook
                self.problems.append(f"accumulate hook of node {nid}: {exc!r}")

        return hook

    # -- after the pass --------------------------------------------------------------------
    def finish(self, returned: Any = None, error: BaseException | None = None) -> Pass:
        """Remove every hook, collect what is left, and return the pass as plain data."""
        self.remove_hooks()
        try:
            for nid, t in self.named:
                if not t.is_leaf and t.grad is not None:
                    self.nodes[nid]["retained_grad"] = self.rec(t.grad)
            input_ids = []
            for k, t in enumerate(self.inputs):
                edge = gradient_edge(t) if isinstance(t, torch.Tensor) else None
                input_id = self.sk.ids.get(edge[0]) if edge is not None else None
                if edge is None or input_id is None:
                    continue
                input_ids.append(input_id)
                if returned is not None and k < len(returned) and returned[k] is not None:
                    self._returned(input_id, edge[1], returned[k])
            if self.reductions is not None:
                self.reductions.collect(self.nodes, self.leaves, self.rec)
            shards.collect(self.nodes, self.sharded, self.rec)
            return self._to_pass(input_ids, error)
        finally:
            if not self.pass_info.get("retain_graph"):  # the graph is freed: so is its provenance
                self.table.drop(self.sk.fns)
            self.sk.clear()
            self.pending.clear()
            self.scalar_in.clear()
            self.views.clear()
            self.pre, self.clean = {}, {}
            self.watch.clear()
            self.seeds = []
            self.named, self.leaves, self.inputs, self.sharded = [], [], [], []

    def _returned(self, nid: int, output_nr: int, grad: torch.Tensor) -> None:
        """An input's returned gradient is its result (see NOTE [returned gradients])."""
        node = self.nodes[nid]
        node["returned_grad"] = self.rec(grad)
        if node["step"] is None:
            self.step += 1
            node["step"] = self.step
            if output_nr < len(node["grad_in"]):
                node["grad_in"][output_nr] = node["returned_grad"]
                for u, nr in self.arrive.get(nid, ()):
                    if nr == output_nr:  # the node did not run: what reached it is the result
                        self._arrived(u, nid, nr, (None,) * nr + (grad,), ran=False)

    # NOTE [returned gradients]: ``torch.autograd.grad`` takes each input's gradient from the
    # engine's buffer of the input's node, which then does not run (a leaf's AccumulateGrad
    # never does). That gradient, the sum of the contributions that reached the node, is the
    # call's result for the input: it becomes the node's ``grad_in`` and the node gets the
    # next step, in the order of ``inputs=``, when the call returns.

    def remove_hooks(self) -> None:
        for handle in self.handles:
            handle.remove()
        self.handles = []

    def _to_pass(self, input_ids: list[int], error: BaseException | None) -> Pass:
        return to_pass(self, input_ids, error)


def _local(g: torch.Tensor, go: torch.Tensor, limit: int) -> dict[str, Any] | None:
    """The local derivative along an edge whose node got the one-element gradient ``go``: ``g / go``."""
    if g.numel() > limit or g.is_complex() or g.device.type == "meta" or unreadable(g) or unreadable(go):
        return None
    with unseen():
        return record(g / go, limit) if bool(go != 0) else None


def _in_slots(sk: Skeleton) -> dict[int, int]:
    """How many slots feed each node's gradient (more than one means accumulation)."""
    count: dict[int, int] = {}
    for (_, v), edge in sk.edges.items():
        count[v] = count.get(v, 0) + len(edge["slots"])
    return count
