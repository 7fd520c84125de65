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
# made between calls is tagged by the walk of the first call that consumes it (below).
#
# NOTE [ancestor walk]: a composite call (``F.linear``) makes several nodes but returns only
# the last, so the untagged nodes of the block are found by walking from the returned ones.
# Most calls make exactly the nodes they return, right after the previous call ended: the
# walk would find nothing and is skipped. The table keeps ``last``, a sequence number below
# which every node of the block made on this thread is tagged; the walk runs when the numbers
# say a node may be missing: the call made more nodes than it returned, or nodes were made
# since ``last`` outside any call we see (a custom ``Function.apply``, a backward with
# ``create_graph``). A walk that tags all of them moves ``last`` on; otherwise it becomes
# unknown (-1) and every later call of the block walks, as all calls did before.


def tag(
    out: Any,
    table: Provenance,
    modules: ModuleStack | None,
    limit: int,
    since: int,
    before: int,
    frame: Any,
    home: tuple[Any, Any, Any, int],
    doors: Doors,
) -> None:
    """Write source line, module and small forward values into the grad_fns a call made.

    ``before`` is the thread's next sequence number when the call began; ``frame`` the
    frame the call belongs to (the user's, or torch's own above it), ``home`` its
    ``doors.of``. Untagged ancestors made after ``since`` (the block's first sequence
    number) get the same provenance (NOTE [ancestor walk]), so every op node of the block
    knows its module and line.
    """
    if table.full():  # see NOTE [provenance table]: no node may be touched
        return
    tensors = out if isinstance(out, (tuple, list)) else (out,)
    site = None
    made = []  # the nodes tagged here
    numbers = 0  # how many of them are numbered from ``before`` on (and so made by this call)
    for t in tensors:
        if not isinstance(t, torch.Tensor):
            continue
        fn = t.grad_fn
        if fn is None:
            continue
        nr = fn._sequence_nr()
        if nr < since:
            continue
        raw = table.entries.get(nr)  # table.find and table.put, inlined: called for every new node
        if raw is None or raw[0] != fn.name():
            if site is None:
                site = _site(frame, home, modules, doors)
            raw = [fn.name(), site, None]
            if nr < SHARED_NR:
                table.entries[nr] = raw
                numbers += nr >= before
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
    end = next_sequence_nr()
    start = table.last  # every node of the block numbered before it is tagged (-1: not known)
    if site is None:  # nothing new among the outputs: a node the call made is left to a later walk
        table.last = end if end == before == start else -1
    elif start == before and numbers == len(made) == end - before:  # the call made just these nodes
        table.last = end
    else:
        tagged, stack_frame = 0, frame if anomaly else None  # the walk rewrites anomaly stacks too
        for fn in made:
            nr = fn._sequence_nr()
            tagged += (start <= nr < end) + _tag_ancestors(fn, table, site, since, (start, end), stack_frame)
        # every node made since ``start`` is tagged now: later calls may skip their walks again
        table.last = end if start >= 0 and tagged == end - start else -1


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


def _tag_ancestors(fn: Any, table: Provenance, site: Site, since: int, span: tuple[int, int], frame: Any) -> int:
    """Tag ``fn``'s untagged ancestors made after ``since``; how many of them are numbered within ``span``.
    ``frame``: the call's frame under anomaly mode (their stacks rewritten), else None."""
    todo = [n for n, _ in fn.next_functions if n is not None]
    count = 0
    while todo:
        node = todo.pop()
        nr = node._sequence_nr()
        if is_leaf_fn(node) or nr < since or table.find(node) is not None or table.full():
            continue
        table.put(node, site)
        if frame is not None:  # anomaly mode: NOTE [anomaly tracebacks]
            plain_stack(node, frame)
        count += span[0] <= nr < span[1]
        todo.extend(n for n, _ in node.next_functions if n is not None)
    return count
