"""Tagging the grad_fns each forward call makes with its provenance: the mode's work at every op."""

from __future__ import annotations

from typing import Any

import torch

from .._plain import Doors
from .anomaly import plain_stack
from .frames import is_internal
from .provenance import NO_MODULE, SHARED_NR, ModuleStack, Provenance, Site, forward_value, next_sequence_nr
from .walk import is_leaf_fn

_top_saved_hooks = torch._C._autograd._top_saved_tensors_default_hooks
_dispatch_modes = torch._C._len_torch_dispatch_stack
_anomaly = torch.is_anomaly_enabled


# NOTE [calls that make no node]: a call that made no autograd node on this thread (under
# ``no_grad``, an optimizer step, ops on tensors that need no gradient) has nothing to tag:
# the thread's next sequence number, read before and after it (a C call, no node touched),
# is unchanged. So the mode returns its result at once. An output whose node is older than
# the call (an op that returns its input, ``x.contiguous()``) is not tagged by it; a node
# made between calls is not tagged (NOTE [ancestor walk]).
#
# NOTE [ancestor walk]: a composite call (``F.linear``) makes several nodes but returns only
# the last, so the untagged nodes it made are found by walking from the returned ones, down to
# the first node numbered before the call began. Most calls make exactly the nodes they
# return: the numbers say so (as many returned new nodes as the call made) and the walk is
# skipped. Nodes made outside any call the mode sees (a custom ``Function.apply``, the
# derivative graph a backward with ``create_graph`` builds, a call that returns no tensor)
# are never tagged by a later call that consumes them: that call's line is not where they
# were made, so they have no line rather than a wrong one. The nodes a ``create_graph``
# backward call made are tagged with that call's line when it returns (tracer.py).


def tag(
    out: Any,
    table: Provenance,
    modules: ModuleStack | None,
    limit: int,
    before: int,
    frame: Any,
    home: tuple[Any, Any, Any, int],
    doors: Doors,
) -> None:
    """Write source line, module and small forward values into the grad_fns a call made.

    ``before`` is the thread's next sequence number when the call began; ``frame`` the
    frame the call belongs to (the user's, or torch's own above it), ``home`` its
    ``doors.of``. Untagged ancestors the call made get the same provenance (NOTE [ancestor
    walk]), so every op node the block's calls make knows its module and line.
    """
    if table.full():  # see NOTE [provenance table]: no node may be touched
        return
    tensors = out if isinstance(out, (tuple, list)) else (out,)
    site = None
    made = []  # the nodes tagged here
    for t in tensors:
        if not isinstance(t, torch.Tensor):
            continue
        fn = t.grad_fn
        if fn is None:
            continue
        nr = fn._sequence_nr()
        if nr < before:  # not made by this call (NOTE [ancestor walk])
            continue
        raw = table.entries.get(nr)  # table.find and table.put, inlined: called for every new node
        if raw is None or raw[0] != fn.name():
            if site is None:
                site = _site(frame, home, modules, doors)
            raw = [fn.name(), site, None]
            if nr < SHARED_NR:
                table.entries[nr] = raw
            made.append(fn)
        if t.numel() <= limit:
            values = raw[2]
            if values is None:
                raw[2] = values = {}
            if t.output_nr not in values:
                values[t.output_nr] = forward_value(t, limit)
    anomaly = bool(made) and _anomaly()  # NOTE [anomaly tracebacks]
    for fn in made if anomaly else ():
        plain_stack(fn, frame)
    if site is None or len(made) == next_sequence_nr() - before:  # the call made just these nodes
        return
    stack_frame = frame if anomaly else None  # the walk rewrites anomaly stacks too
    for fn in made:
        _tag_ancestors(fn, table, site, before, stack_frame)


def _site(frame: Any, home: tuple[Any, Any, Any, int], modules: ModuleStack | None, doors: Doors) -> Site:
    """Where a call was made (NOTE [lazy provenance]): the first user frame from ``frame`` up;
    ``home`` is ``doors.of(frame)``, already looked up by the mode."""
    module = modules.stack[-1] if modules is not None and modules.stack else NO_MODULE
    is_pure = _top_saved_hooks(False) is None and _dispatch_modes() == 0  # pure(), inlined
    if _internal(frame.f_code.co_filename):
        while frame is not None and _internal(frame.f_code.co_filename):
            frame = frame.f_back
        if frame is None:
            return (None, 0, module, is_pure)
        home = doors.of(frame)
    return (frame.f_code.co_filename, home[3] or frame.f_lineno, module, is_pure)


_INTERNAL: dict[str, bool] = {}  # file name -> is_internal(file name): the site's walk asks at every frame


def _internal(filename: str) -> bool:
    known = _INTERNAL.get(filename)
    if known is None:
        if len(_INTERNAL) >= 4096:
            _INTERNAL.clear()
        known = _INTERNAL[filename] = is_internal(filename)
    return known


def _tag_ancestors(fn: Any, table: Provenance, site: Site, before: int, frame: Any) -> None:
    """Tag ``fn``'s untagged ancestors numbered from ``before`` on (made by the same call).
    ``frame``: the call's frame under anomaly mode (their stacks rewritten), else None."""
    todo = [n for n, _ in fn.next_functions if n is not None]
    while todo:
        node = todo.pop()
        if is_leaf_fn(node) or node._sequence_nr() < before or table.find(node) is not None or table.full():
            continue
        table.put(node, site)
        if frame is not None:  # anomaly mode: NOTE [anomaly tracebacks]
            plain_stack(node, frame)
        todo.extend(n for n, _ in node.next_functions if n is not None)
