"""The steady state of a long loop: our mode off the forward, backward calls seen where torch's engine starts."""

from __future__ import annotations

import sys
import threading
import types
import warnings
from collections.abc import Callable
from typing import Any

import torch
import torch.autograd
from torch.optim.optimizer import register_optimizer_step_pre_hook

from .._plain import Doors, plain_call
from .entry import Entry, by_code
from .frames import function_locals

# NOTE [lean steady state]: our TorchFunctionMode costs every torch call of the block (1.3-1.5x
# on tiny ops for a mode that does nothing), and in the steady state of a long loop traced
# with ``count_only`` (``graphtrace run``) nothing it does is used: a counted pass needs no
# provenance. So once the latest pass was only counted and the next one will be too (the
# tracer asks ``count_only`` about pass n+1 with the signatures of the latest passes, and
# remembers the answer for when pass n+1 comes), the traced thread runs "lean": the mode is
# taken off its stack, and backward calls are seen one frame below every wrapper instead.
# - Backward calls: ``Tensor.backward`` -> ``torch.autograd.backward`` and
#   ``torch.autograd.grad`` all call ``torch.autograd``'s module global
#   ``_engine_run_backward`` (imported there from ``.graph``; torch 2.13). While a tracer has
#   ``count_only`` it is replaced by ``_Lean.engine``, which does nothing but call torch's
#   unless the tracer is lean, the call is from the traced thread (a mode is per thread) and
#   no pass of ours is running (the mode's own calls, a nested call). Then the entry point is
#   the torch function above it (through ``by_code``: the frame of ``Tensor.backward`` above
#   ``torch.autograd.backward``'s when there is one), its arguments those it gave the engine
#   (the objects the mode would have bound; the seeds are torch's own), and the tracer's own
#   ``_pass`` records it as it records a mode's call, the engine call being the plain call
#   (through a door made for torch's line, NOTE [warnings point home]). Each user or tool
#   wrapper of the entry points ran above it exactly once. At the trace's exit the attribute
#   is restored if it is still ours; if someone replaced it after us, ours stays in their
#   chain and only calls through.
# - Going lean: the mode can only be taken off its stack where none of its own handlers runs
#   (torch holds a mode off the stack while it handles a call and pushes it back after), so
#   the tracer only wants it, and it happens at the next optimizer step (a global step
#   pre-hook) or module call (the module stack's pre-hook), outside any pass of ours and only
#   when our mode is the top of the thread's stack (else the trace stays as it was). A loop
#   with neither stays with the mode on. Going lean at an optimizer step while no module runs
#   also takes the module stack's global hooks off (they put every module call on torch's slow
#   path), and coming back puts them on again: a module running across that (a backward
#   inside a module's forward) is not on the module stack then, and the nodes its own code
#   makes after it get no module, never a wrong one. torch.compile guards on the mode stack
#   and on the global hooks (each new hook a new guard): once it has compiled anything, the
#   hooks stay on, and a compiled module is compiled once more, for the mode off.
# - Leaving lean: when the next pass may be recorded in full (``count_only`` says no, for
#   the 1st, 2nd, 4th, ... pass of a group: NOTE [which passes are written]), the pass that
#   runs lean before it puts the mode back at the place it had (modes pushed since stay above
#   it); nodes made while lean are never tagged afterwards, as no later call made them (NOTE
#   [ancestor walk]): such a node has no line, never a wrong one. Should a pass need a full
#   recording while lean (a new structure, a custom Function, the place below our mode
#   changed), it is recorded in full and its ``capture_error`` says
#   what of its forward was not recorded (NOTE [forward not recorded]); its parameters keep
#   their names (NOTE [owners while lean] in owners.py).
# - A fault of ours in the wrapper: a warning and the plain call (NOTE [ours never breaks theirs]).
#
# NOTE [the engine's errors]: the wrapper stands between torch's ``autograd`` and its engine for
# every backward call of a counted trace, lean or not, so it is the innermost frame outside torch
# of each error the engine raises: a tensor saved for backward modified in place, a second
# backward through a freed graph. The runner would read such an error as ours (NOTE [whose
# error]) and show our frames. So the wrapper calls torch's engine only through a door, as the
# mode does: ``plain_call`` when it only passes the call on, the door of torch's line when it
# records the pass (``_seen``).

_compiling = torch.compiler.is_compiling
_stack_len = torch._C._len_torch_function_stack
_stack_at = torch._C._get_function_stack_at
_pop = torch._C._pop_torch_function_stack
_push = torch._C._push_on_torch_function_stack
_ENGINE = "_engine_run_backward"


class _Lean:
    """One tracer's lean state on its thread: the engine wrapper, the hooks that go lean, the mode's place."""

    def __init__(self, tracer: Any, mode: Any) -> None:
        self.tracer: Any = tracer  # None: closed, ours only calls through
        self.mode = mode
        self.thread = threading.get_ident()
        self.wanted = False  # go lean at the next optimizer step or module call
        self.on = False  # the mode is off this thread's stack
        self.paused = False  # the module stack's global hooks are off with it
        self.place: tuple[int, Any] = (0, None)  # (stack length without our mode, the mode below it)
        self.doors = Doors()
        self.faulted = False
        self.original: Callable[..., Any] = getattr(torch.autograd, _ENGINE)
        self.engine = self._wrapper()
        self._handles = [register_optimizer_step_pre_hook(self._optimizer_step)]
        setattr(torch.autograd, _ENGINE, self.engine)

    def _wrapper(self) -> Callable[..., Any]:
        original = self.original

        def _engine_run_backward(t_outputs: Any, *args: Any, **kwargs: Any) -> Any:
            if _compiling():  # NOTE [compiled regions] in tracer.py
                return original(t_outputs, *args, **kwargs)
            tracer = self.tracer
            if tracer is None or not self.on or tracer.running or threading.get_ident() != self.thread:
                return plain_call(original, (t_outputs, *args), kwargs)  # NOTE [the engine's errors]
            return self._seen((t_outputs, *args), kwargs)

        _engine_run_backward.__wrapped__ = original  # type: ignore[attr-defined]
        return _engine_run_backward

    def _seen(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """A backward call while lean: recorded by the tracer as the mode's call would be."""
        original = self.original
        try:
            caller = sys._getframe(2)  # the torch function that called _engine_run_backward
            entry, bound = _entry_of(caller, args)
            door = self.doors.of(caller)[2]
            del caller
        except Exception as exc:  # NOTE [ours never breaks theirs]
            self._fault(exc)
            return plain_call(original, args, kwargs)
        if entry is None:  # a caller we do not know: no mode would have seen it as a backward call
            return plain_call(original, args, kwargs)
        return self.tracer._pass(entry, bound, original, args, kwargs, door)

    def _fault(self, exc: BaseException) -> None:
        if not self.faulted:
            self.faulted = True
            try:
                warnings.warn(f"graphtrace could not read a backward call: {exc!r}", stacklevel=4)
            except Exception:  # warnings made errors: ours is dropped
                pass

    def _optimizer_step(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        if self.point():
            modules = self.tracer.modules if self.tracer is not None else None
            self.paused = modules is not None and not _compiled_anything() and modules.pause()

    def point(self) -> bool:
        """A place outside our handlers (an optimizer step, a module call): go lean if wanted;
        True if it went lean now."""
        if not self.wanted or _compiling() or threading.get_ident() != self.thread:
            return False
        tracer = self.tracer
        if tracer is None or tracer.running:
            return False
        n = _stack_len()
        if n == 0 or _stack_at(n - 1) is not self.mode:  # not the top: stay as we are
            return False
        _pop()
        self.place = (n - 1, _stack_at(n - 2) if n > 1 else None)
        self.on, self.wanted = True, False
        return True

    def back(self) -> bool:
        """Put the mode back at its place (modes pushed since stay above it); True if it was put back
        now, False if it was not off or its place is gone (the trace then stays lean)."""
        self.wanted = False
        if not self.on:
            return False
        depth, below = self.place
        n = _stack_len()
        if n < depth or (depth and _stack_at(depth - 1) is not below):
            return False
        above = [_pop() for _ in range(n - depth)]
        _push(self.mode)
        for m in reversed(above):
            _push(m)
        self.on = False
        if self.paused and self.tracer is not None and self.tracer.modules is not None:
            self.tracer.modules.resume()
        self.paused = False
        return True

    def close(self) -> None:
        """Restore torch's function if it is still ours (else ours only calls through); remove the hook."""
        self.tracer, self.wanted = None, False
        for handle in self._handles:
            handle.remove()
        self._handles = []
        if getattr(torch.autograd, _ENGINE, None) is self.engine:
            setattr(torch.autograd, _ENGINE, self.original)
        self.doors.clear()


def _compiled_anything() -> bool:
    """Whether torch.compile has converted a frame in this process: its guards see the global
    module hooks, so taking them off and on would compile it again at each change."""
    utils = sys.modules.get("torch._dynamo.utils")
    try:
        counters = getattr(utils, "counters", None)
        return bool(counters and counters.get("frames", {}).get("total", 0))
    except Exception:
        return True


def start(tracer: Any, mode: Any) -> _Lean | None:
    """The lean state of ``tracer`` on this thread, its engine wrapper installed; None where
    torch has no ``_engine_run_backward`` to wrap (the trace then keeps its mode on)."""
    if not isinstance(getattr(torch.autograd, _ENGINE, None), types.FunctionType):
        return None
    return _Lean(tracer, mode)


def _entry_of(frame: types.FrameType | None, args: tuple[Any, ...]) -> tuple[Entry | None, dict[str, Any]]:
    """(the entry point whose frame called torch's engine with ``args``, or None; its arguments
    as the mode would have bound them). ``Tensor.backward`` is the entry when its frame is just
    above ``torch.autograd.backward``'s; grad's batched ``vjp`` (under vmap) is a few frames
    below ``grad``, whose own arguments are then read from its frame."""
    if frame is None:
        return None, {}
    entry = by_code(frame.f_code)
    if entry is None:  # not called by an entry point itself: grad's vjp under vmap
        for _ in range(8):
            frame = frame.f_back
            if frame is None:
                return None, {}
            entry = by_code(frame.f_code)
            if entry is not None:
                local = dict(function_locals(frame))
                return entry, {k: local[k] for k in entry.signature.parameters if k in local}
        return None, {}
    if entry.name == "torch.autograd.backward":
        above = frame.f_back
        outer = by_code(above.f_code) if above is not None else None
        if outer is not None and outer.name == "Tensor.backward":
            entry = outer
    return entry, _bound(entry.name, args)


def _bound(name: str, args: tuple[Any, ...]) -> dict[str, Any]:
    """The arguments of entry point ``name`` from those it gave torch's engine: (roots, seeds,
    retain_graph, create_graph, inputs); the seeds are torch's own (``_make_grads``: the
    user's gradients themselves, or ones where none was given)."""
    roots, seeds, retain, create, inputs = args[:5]
    if name == "torch.autograd.grad":
        return {
            "outputs": roots,
            "inputs": inputs,
            "grad_outputs": seeds,
            "retain_graph": retain,
            "create_graph": create,
        }
    flags = {"retain_graph": retain, "create_graph": create, "inputs": inputs or None}
    if name == "Tensor.backward":
        return {"self": roots[0], "gradient": seeds[0], **flags}
    return {"tensors": roots, "grad_tensors": seeds, **flags}
