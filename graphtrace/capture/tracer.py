"""``trace()`` and ``snapshot()``: a TorchFunctionMode that records each backward call."""

from __future__ import annotations

import sys
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
from torch.overrides import TorchFunctionMode

from .._errors import GraphtraceError
from .._options import SnapshotOptions, TraceOptions
from .._plain import Doors, plain_call
from ..model import Counted, Pass, Trace
from .check import Calls, FunctionApply, annotate
from .counted import Counting, Light
from .entry import BY_FUNCTION, DISPATCH, Entry, caller, resolve
from .frames import Names, user_call, user_frame, where
from .lean import start as start_lean
from .modes import ask_again, leave, sweep
from .nested import MAX_DEPTH, Nesting
from .owners import Prefixes
from .provenance import ModuleStack, Provenance, next_sequence_nr
from .recorder import PassRecorder
from .tagging import tag
from .values import unseen, wrapped
from .walk import MAX_NODES, TooBig

_compiling = torch.compiler.is_compiling  # bound once: asked at every op


def _as_list(x: Any) -> list[Any]:
    if x is None:
        return []
    if isinstance(x, torch.Tensor):
        return [x]
    return list(x)


def _roots(entry: Entry, a: dict[str, Any]) -> list[Any]:
    """The tensors the call starts from, from its bound arguments ``a``."""
    if entry.name == "Tensor.backward":
        return [a["self"]]
    return _as_list(a["tensors"] if entry.name == "torch.autograd.backward" else a["outputs"])


def _call(entry: Entry, a: dict[str, Any], seeds: bool = True) -> dict[str, Any]:
    """The call's roots, seed gradients, inputs and flags from its bound arguments ``a``;
    ``seeds=False``: no seeds (a pass only counted reads none, so no implicit seed is made)."""
    roots = _roots(entry, a)
    if entry.name == "Tensor.backward":
        given, inputs = [a.get("gradient")], _as_list(a.get("inputs"))
    elif entry.name == "torch.autograd.backward":
        given = _as_list(a.get("grad_tensors") if a.get("grad_tensors") is not None else a.get("grad_variables"))
        inputs = _as_list(a.get("inputs"))
    else:
        given, inputs = _as_list(a.get("grad_outputs")), _as_list(a["inputs"])
    made: list[Any] = []
    if seeds:
        given = given + [None] * (len(roots) - len(given))
        with unseen():  # the engine's implicit seed, made where no user mode sees it
            made = [
                s
                if s is not None or not isinstance(r, torch.Tensor) or r.numel() != 1
                else torch.ones_like(r, memory_format=torch.preserve_format)
                for r, s in zip(roots, given)
            ]
    create = bool(a.get("create_graph", False))
    retain = a.get("retain_graph")
    return {
        "roots": [r for r in roots if isinstance(r, torch.Tensor)],
        "seeds": made,
        "inputs": inputs,
        "create_graph": create,
        "retain_graph": create if retain is None else bool(retain),
        "batched": bool(a.get("is_grads_batched", False)),
    }


# NOTE [compiled regions]: nothing of ours may be traced by the compiler: dynamo inlines the
# TorchFunctionMode and the global module hooks into the code it compiles (and fails on our
# state: "already tracked for mutation"). While it traces, ``torch.compiler.is_compiling()``
# is a constant True for it, so each of our entry points returns at once: the compiled
# region runs as compiled, and its backward is one node of the pass (CompiledFunctionBackward).


class _Mode(TorchFunctionMode):
    """Sees every torch call in the block: backward calls are recorded, new grad_fns tagged."""

    graphtrace_mode = True  # what ``modes.sweep`` looks for

    def __init__(self, tracer: Tracer) -> None:
        super().__init__()
        self.tracer: Tracer | None = tracer  # None: left from another thread (NOTE [a mode per thread])
        self.thread = threading.get_ident()
        self.doors = Doors()  # NOTE [warnings point home]
        self.faulted = False  # a fault of ours seen in __torch_function__ (warned once)

    def __torch_function__(self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        if _compiling():  # see NOTE [compiled regions]
            return func(*args, **kwargs)
        tracer = self.tracer
        outer = sys._getframe(1)
        try:
            if outer.f_code is DISPATCH or id(func) in BY_FUNCTION:  # NOTE [wrapped entry points]
                entry, call = resolve(func, outer)
                frame = caller(outer)
            else:  # an op dispatched from C++ (most ops): no wrapper in between, no backward entry
                entry, call, frame = None, func, outer
            home = self.doors.of(frame)  # NOTE [warnings point home]
        except Exception as exc:  # NOTE [ours never breaks theirs]: the plain call
            if not self.faulted:
                self.faulted = True
                _say(f"graphtrace could not read a torch call: {exc!r}")
            return func(*args, **kwargs)
        if tracer is None:
            out = home[2](call, args, kwargs)
            ask_again()  # NOTE [a mode per thread]
            return out
        if entry is not None:
            before = next_sequence_nr()
            out = tracer._backward(entry, args, kwargs, home[2])
            if self.tracer is None:  # left from another thread while this pass ran
                ask_again()
            elif tracer.modules is not None and next_sequence_nr() != before:
                try:  # a create_graph pass built a derivative graph: its nodes were made here
                    tag(out, tracer.table, tracer.modules, tracer.tag_limit, before, frame, home, self.doors)
                except Exception:  # provenance is best effort (NOTE [ancestor walk])
                    pass
            return out
        before = next_sequence_nr()
        out = home[2](call, args, kwargs)
        if next_sequence_nr() == before and tracer.calls is None:  # NOTE [calls that make no node]
            return out
        if tracer.modules is not None:
            try:
                tag(out, tracer.table, tracer.modules, tracer.tag_limit, before, frame, home, self.doors)
            except Exception:  # provenance is best effort: never break the user's forward
                pass
        if tracer.calls is not None:
            try:
                tracer.calls.add(call, args, kwargs, out)
            except Exception:  # see NOTE [gradient check]: remembering is best effort
                pass
        return out


class Tracer:
    """``with graphtrace.trace() as t:`` records each backward pass run in the block into ``t``.

    The context manager holds the torch mode while the block runs; ``t`` is the plain
    ``Trace`` it records into (also ``.trace``), which outlives the block. The options are
    fixed when the tracer is made (a ``TraceOptions``). For code that kept the tracer
    itself (``tr = graphtrace.trace(); with tr: ...``), it reads like its trace: ``passes``,
    ``count``, ``len``, iteration, indexing and notebook display.
    """

    def __init__(self, options: TraceOptions) -> None:
        self.options = options
        self.trace = Trace()
        self.modules: ModuleStack | None = None
        self.table = Provenance()  # see NOTE [provenance table]
        self.calls = Calls() if options.check else None  # see NOTE [gradient check]
        self._apply = FunctionApply(self.calls) if self.calls is not None else None
        self.tag_limit = self._tag_limit()
        self.counting = Counting(self._ask) if options.count_only is not None else None
        self.running = 0  # passes of ours running now (the lean wrapper leaves their inner calls to them)
        self._answers: dict[tuple[int, str], bool] = {}  # count_only's answers, asked ahead (NOTE [lean steady state])
        self._recent: list[str] = []  # the signatures of the latest passes
        self._prefixes = Prefixes()  # NOTE [owners while lean] in owners.py
        self._lean: Any = None
        self._mode: _Mode | None = None
        self._nesting: Nesting | None = None

    def __enter__(self) -> Trace:
        if self._mode is not None:
            raise GraphtraceError("this trace() is already active; use a new graphtrace.trace() block")
        try:
            self._start()
        except Exception as exc:  # NOTE [ours never breaks theirs]: the block runs, untraced
            _quietly(lambda: self.__exit__(None, None, None))
            _say(f"graphtrace could not start tracing: {exc!r}; the block runs untraced")
        return self.trace

    def _start(self) -> None:
        if self.options.provenance:
            self.modules = ModuleStack()
        sweep()
        self._mode = _Mode(self)
        self._nesting = Nesting(self._mode)
        TorchFunctionMode.__enter__(self._mode)
        if self._apply is not None:
            self._apply.install()
        if self.counting is not None and self.calls is None:  # NOTE [lean steady state]
            self._lean = start_lean(self, self._mode)
            if self.modules is not None and self._lean is not None:
                self.modules.entered = self._lean.point

    def __exit__(self, *exc: Any) -> None:
        try:
            lean, self._lean = self._lean, None
            if lean is not None:
                lean.close()
            if self._mode is not None:
                if lean is not None and lean.on and threading.get_ident() == lean.thread:
                    self._mode.tracer = None  # already off this thread's stack (NOTE [lean steady state])
                else:
                    leave(self._mode)
        finally:
            self._mode = None
            self.table.clear()
            self._nesting = None
            if self._apply is not None:
                self._apply.remove()
            if self.calls is not None:
                self.calls.clear()
            if self.modules is not None:
                self.modules.close()
                self.modules = None

    def __repr__(self) -> str:
        n = self.trace.count
        return f"<graphtrace.trace: {n} pass{'es' if n != 1 else ''}>"

    # -- read-only views of the trace ------------------------------------------------------
    @property
    def passes(self) -> list[Pass]:
        return self.trace.passes

    @property
    def count(self) -> int:
        return self.trace.count

    @property
    def not_drawn(self) -> dict[str, int]:
        return self.trace.not_drawn

    def __iter__(self) -> Iterator[Pass]:
        return iter(self.trace)

    def __len__(self) -> int:
        return len(self.trace)

    def __getitem__(self, i: int) -> Pass:
        return self.trace[i]

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        return self.trace._repr_mimebundle_(include, exclude)

    def _tag_limit(self) -> int:
        """Elements up to which forward values are tagged onto new grad_fns (-1: none)."""
        return self.options.value_limit if self.options.values_in(self.trace.count + 1) else -1

    def _backward(
        self, entry: Entry, args: tuple[Any, ...], kwargs: dict[str, Any], door: Callable[..., Any] = plain_call
    ) -> Any:
        """Record one call of a backward entry point; torch's own function does the work, called
        through ``door`` (NOTE [warnings point home]).

        NOTE [ours never breaks theirs]: a fault of ours at any stage (reading the call, building
        the recorder, registering hooks, collecting, storing) gives one warning and the plain
        call, or the plain call's result when it already ran. So does one in entering the block
        (which then runs untraced) or in reading any torch call (warned once per block); a
        warnings filter set to "error" drops our warning rather than raise it into the user's call.
        A call we cannot read (arguments that do not bind) is left to torch, which reports it as
        it would without graphtrace.
        """
        call = entry.function
        try:
            bound = entry.signature.bind(*args, **kwargs).arguments
        except TypeError:
            return door(call, args, kwargs)
        return self._pass(entry, bound, call, args, kwargs, door)

    def _pass(self, entry: Entry, bound: dict[str, Any], *run: Any) -> Any:
        """Record one backward call of ``entry`` with arguments ``bound``; ``run`` is (call, args,
        kwargs, door), ``door(call, args, kwargs)`` running it (the mode's call of torch's
        function, or the lean wrapper's call of torch's engine)."""
        self.running += 1
        try:
            return self._record(entry, bound, *run)
        finally:
            self.running -= 1

    def _record(
        self,
        entry: Entry,
        bound: dict[str, Any],
        call: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        door: Callable[..., Any],
    ) -> Any:
        nesting = self._nesting
        outer = nesting.current() if nesting is not None else None  # NOTE [nested backward]
        depth = len(nesting.stack()) if nesting is not None else 0
        index = self.trace.count + 1 if outer is None else outer[0].pass_info["index"]
        if depth > MAX_DEPTH:
            why = f"nested more than {MAX_DEPTH} deep"  # NOTE [nested backward]
            return self._not_drawn(why, call, args, kwargs, door)
        if self.counting is not None and outer is None and self.calls is None:  # NOTE [counted passes]
            try:
                light = self._light(entry, bound, index)
            except TooBig:
                return self._not_drawn(f"with more than {MAX_NODES} nodes", call, args, kwargs, door)
            except Exception as exc:
                _warn(index, exc)
                return door(call, args, kwargs)
            if light is not None:
                return self._count_only(index, light, call, args, kwargs, door)
        recorder = None
        lean = self._lean is not None and self._lean.on and outer is None  # NOTE [forward not recorded]
        try:
            if torch._C._functorch.maybe_current_level() is not None or any(
                isinstance(t, torch.Tensor) and wrapped(t) for t in _roots(entry, bound)
            ):
                why = "inside torch.func transforms"  # NOTE [unread tensors]
                return self._not_drawn(why, call, args, kwargs, door)
            recorder = self._recorder(entry, bound, index, lean)
            recorder.nesting = nesting
            if outer is not None:
                recorder.step = outer[0].step
            recorder.register()
            leaves = list(recorder.leaves)  # for the template of counted passes (NOTE [counted passes])
            seqs = (
                {len(recorder.sk.roots) + i: fn._sequence_nr() for i, fn in enumerate(recorder.sk.fns)}
                if self.calls is not None
                else {}
            )
        except TooBig:
            return self._not_drawn(f"with more than {MAX_NODES} nodes", call, args, kwargs, door)
        except Exception as exc:
            if recorder is not None:
                _quietly(recorder.remove_hooks)
            _warn(index, exc)
            return door(call, args, kwargs)
        returned, error = None, None
        try:
            returned = door(call, args, kwargs)
            return returned
        except BaseException as exc:
            error = exc
            raise
        finally:
            recorded = None
            try:
                if nesting is not None:
                    nesting.unwind(depth)
                recorder.remove_hooks()
                recorded = recorder.finish(returned if entry.name == "torch.autograd.grad" else None, error)
                if self.calls is not None:
                    annotate(recorded, self.calls, seqs)
                if lean:
                    _forward_not_recorded(recorded)
                elif outer is None:
                    self._prefixes.learn(recorder.owners)
                if outer is None:
                    self._store(recorded)
                    if self.counting is not None:
                        self.counting.learn(leaves, recorded)
                else:  # part of the outer pass, stored (and given to on_pass) with it
                    outer[0].nested.append((outer[1], recorded.graph))
                    outer[0].step = recorder.step
                    recorded = None
            except Exception as exc:  # the user's result or exception must win over ours
                _quietly(recorder.remove_hooks)
                _warn(index, exc)
            try:
                if recorded is not None and self.options.on_pass is not None:
                    self.options.on_pass(recorded)  # the user's callback: its errors are the user's
            finally:
                if recorded is not None:
                    self._steady(False, str(recorded.graph.graph.get("signature") or ""))

    def _light(self, entry: Entry, bound: dict[str, Any], index: int) -> Light | None:
        """The light recorder if this pass is to be only counted (NOTE [counted passes]), else None."""
        call = _call(entry, bound, seeds=False)
        values = self.options.values_in(index) and not call["batched"]
        kind = "grad" if entry.name == "torch.autograd.grad" else "backward"
        info = {"index": index, "kind": kind, "api": entry.name}
        if self.counting is None:
            return None
        return self.counting.start(info, call, self.options.value_limit if values else 0, self.table)

    def _count_only(
        self, index: int, light: Light, call: Callable[..., Any], args: Any, kwargs: Any, door: Callable[..., Any]
    ) -> Any:
        """Run a pass that is only counted; ``on_counted`` gets its ``Counted``."""
        returned, error = None, None
        try:
            returned = door(call, args, kwargs)
            return returned
        except BaseException as exc:
            error = exc
            raise
        finally:
            counted: Counted | None = None
            try:
                counted = light.finish(returned if light.info["kind"] == "grad" else None, error)
                self.trace.count += 1
                self.tag_limit = self._tag_limit()
            except Exception as exc:  # see NOTE [ours never breaks theirs]
                _quietly(light.remove_hooks)
                _warn(index, exc)
            try:
                if counted is not None and self.options.on_counted is not None:
                    self.options.on_counted(counted)  # the user's callback: its errors are the user's
            finally:
                if counted is not None:
                    self._steady(True, counted.signature)

    def _ask(self, index: int, signature: str) -> bool:
        """``count_only(index, signature)``, asked once: an answer asked ahead is kept for the pass."""
        key = (index, signature)
        known = self._answers.pop(key, None)
        if known is not None:
            return known
        count_only = self.options.count_only
        return bool(count_only(index, signature)) if count_only is not None else False

    def _steady(self, counted: bool, signature: str) -> None:
        """After a pass: go lean if it was only counted and the next will be too, else come back
        (NOTE [lean steady state]). Never raises."""
        lean = self._lean
        if lean is None:
            return
        try:
            recent = self._recent
            recent.append(signature)
            del recent[:-RECENT]
            ahead = self.trace.count + 1
            self._answers = {k: v for k, v in self._answers.items() if k[0] >= ahead}
            stay = counted
            for sig in dict.fromkeys(recent) if stay else ():
                if (ahead, sig) not in self._answers:
                    count_only = self.options.count_only
                    self._answers[(ahead, sig)] = bool(count_only(ahead, sig)) if count_only is not None else False
                stay = stay and self._answers[(ahead, sig)]
            if stay:
                lean.wanted = not lean.on
            else:
                lean.back()  # nodes made while lean stay untagged: no later call made them
        except Exception:  # the mode stays as it is; a fault of count_only shows at its pass
            lean.wanted = False

    def _recorder(self, entry: Entry, bound: dict[str, Any], index: int, lean: bool) -> PassRecorder:
        frame, caller = user_call(3)
        try:
            call = _call(entry, bound)
            grad = entry.name == "torch.autograd.grad"
            pass_info = {
                "index": index,
                "kind": "grad" if grad else "backward",
                "api": entry.name,
                "call_site": where(frame),
                "caller": caller,
                "retain_graph": call["retain_graph"],
                "create_graph": call["create_graph"],
                "values": self.options.values_in(index) and not call["batched"],
                "jacobians": self.options.jacobians_in(index) and not call["batched"],
            }
            if self.modules is not None:
                pass_info["modules"] = self.modules.seen
            if lean:  # NOTE [owners while lean] in owners.py
                pass_info["prefixed"] = self._prefixes.prefixed()
            return _recorder(
                frame,
                call["roots"],
                call["seeds"],
                pass_info,
                self.options.value_limit if pass_info["values"] else 0,
                call["inputs"],
                self.modules.params if self.modules is not None else None,
                self.table,
            )
        finally:
            del frame

    def _not_drawn(
        self,
        why: str,
        call: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        door: Callable[..., Any] = plain_call,
    ) -> Any:
        """The plain call, counted in ``not_drawn`` under ``why`` (the run's summary names them)."""
        self.trace.not_drawn[why] = self.trace.not_drawn.get(why, 0) + 1
        return door(call, args, kwargs)

    def _store(self, p: Pass) -> None:
        trace = self.trace
        if self.options.keeps(len(trace.passes)):
            trace.passes.append(p)
        trace.count += 1
        self.tag_limit = self._tag_limit()


RECENT = 4  # passes whose structures are asked about ahead (NOTE [lean steady state])

# NOTE [forward not recorded]: a pass recorded in full while the trace was lean has no
# provenance for the nodes made while the mode was off: no source line, module or output value
# (never a wrong one). What the recorder reads at the backward call is still there: the roots'
# values, the leaves' (parameters, inputs), an op's output that a variable of the calling frame
# holds (``out``, ``loss``) and the tensors each op saved for its backward (LogSoftmax's
# ``result``). Its ``capture_error`` says exactly that; its parameters keep the names the
# recorded passes gave them (NOTE [owners while lean] in owners.py).
FORWARD_NOT_RECORDED = (
    "this pass's forward ran while passes were only counted: ops made then have no source line or module,"
    " and their outputs are shown only as roots, variables at the backward call or saved tensors"
)


def _forward_not_recorded(p: Pass) -> None:
    attrs = p.graph.graph
    attrs["capture_error"] = "; ".join(x for x in (FORWARD_NOT_RECORDED, str(attrs.get("capture_error") or "")) if x)


def _warn(index: int, exc: BaseException) -> None:
    _say(f"graphtrace could not record pass {index}: {exc!r}", stacklevel=5)


def _say(message: str, stacklevel: int = 4) -> None:
    """Warn about a fault of ours; a warnings filter set to "error" must not turn it into the user's error."""
    try:
        warnings.warn(message, stacklevel=stacklevel)
    except Exception:  # the script made warnings errors: ours is dropped, the user's call goes on
        pass


def _quietly(step: Callable[[], Any]) -> None:
    try:
        step()
    except Exception:  # already warned once for this pass
        pass


def snapshot(tensors: torch.Tensor | Sequence[torch.Tensor], options: SnapshotOptions) -> Pass:
    """The graph behind ``tensors`` as a pass, without running backward (no gradient values)."""
    roots = _snapshot_roots(tensors)
    frame = user_frame(1)
    pass_info = {
        "index": 1,
        "kind": "snapshot",
        "api": "snapshot",
        "call_site": where(frame),
        "retain_graph": True,
        "create_graph": False,
        "values": True,
        "jacobians": options.jacobians,
    }
    recorder = _recorder(frame, roots, [None] * len(roots), pass_info, options.value_limit)
    del frame
    return recorder.finish()


def _recorder(
    frame: Any,
    roots: list[Any],
    seeds: list[Any],
    pass_info: dict[str, Any],
    limit: int,
    inputs: Sequence[Any] = (),
    params: dict[int, tuple[str, str]] | None = None,
    table: Provenance | None = None,
) -> PassRecorder:
    """A recorder for ``roots``, with the names visible in ``frame`` (not kept afterwards)."""
    names = Names(frame)
    if params:
        names.add_params(params)
    try:
        return PassRecorder(roots, seeds, pass_info=pass_info, names=names, limit=limit, inputs=inputs, table=table)
    finally:
        names.clear()


def _snapshot_roots(tensors: Any) -> list[torch.Tensor]:
    items = [tensors] if isinstance(tensors, torch.Tensor) else tensors
    if not isinstance(items, (list, tuple)) or not items:
        raise GraphtraceError(f"snapshot() takes a tensor or a non-empty list of tensors, not {type(tensors).__name__}")
    for k, t in enumerate(items):
        label = "" if isinstance(tensors, torch.Tensor) else f" (item {k})"
        if not isinstance(t, torch.Tensor):
            raise GraphtraceError(f"snapshot() takes tensors, but got a {type(t).__name__}{label}")
        if t.grad_fn is None and not t.requires_grad:
            raise GraphtraceError(
                f"the tensor{label} has no autograd graph: it has no grad_fn and does not require grad "
                "(create it from tensors with requires_grad=True, outside torch.no_grad())"
            )
    return list(items)
