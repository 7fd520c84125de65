"""Backward calls made inside a node's backward (reentrant checkpoint): recorded into the outer pass."""

from __future__ import annotations

import threading
from typing import Any

import torch
from torch.overrides import TorchFunctionMode

from .._types import Graph

# NOTE [nested backward]: torch runs a custom Function's backward (CheckpointFunctionBackward
# of ``checkpoint(..., use_reentrant=True)`` recomputes its region and calls
# ``torch.autograd.backward`` on it) inside the engine, where our mode is not active: the
# engine runs nodes with the thread-local state of the call that started it, which our
# mode's handler made without the mode. So while such a node runs (between our pre-hook and
# post-hook on it), the mode is pushed again: a backward call inside it is seen, recorded
# with the outer pass's step counter, and its nodes join the outer pass with ``nested_in``
# naming the node that ran them, joined to it by an edge (``nested``) carrying the gradient
# that started the inner call. A node that raises never reaches its post-hook: the outer
# call unwinds what is left.
#
# Each inner pass is copied into the one around it when it ends, so a chain of nested calls
# costs the square of its depth (``test_deep_reentrant``: 2000 levels). Calls nested deeper
# than MAX_DEPTH run plain, counted in ``not_drawn``; their own nodes get no hooks, so the
# calls inside them are not seen at all.

MAX_DEPTH = 32


class Nesting:
    """Per tracer and thread: the (recorder, node) whose backward is running, innermost last."""

    def __init__(self, mode: TorchFunctionMode) -> None:
        self.mode = mode
        self.local = threading.local()

    def stack(self) -> list[tuple[Any, int]]:
        if not hasattr(self.local, "stack"):
            self.local.stack = []
        stack: list[tuple[Any, int]] = self.local.stack
        return stack

    def enter(self, recorder: Any, nid: int) -> None:
        TorchFunctionMode.__enter__(self.mode)
        self.stack().append((recorder, nid))

    def exit(self, recorder: Any, nid: int) -> None:
        stack = self.stack()
        if stack and stack[-1][0] is recorder and stack[-1][1] == nid:
            stack.pop()
            TorchFunctionMode.__exit__(self.mode, None, None, None)

    def current(self) -> tuple[Any, int] | None:
        stack = self.stack()
        return stack[-1] if stack else None

    def unwind(self, depth: int) -> None:
        """Back to ``depth`` entries, after a node raised between its pre-hook and post-hook (the
        engine has then restored the mode stack itself; ours is popped only if still on top)."""
        stack = self.stack()
        while len(stack) > depth:
            stack.pop()
            size = torch._C._len_torch_function_stack()
            if size and torch._C._get_function_stack_at(size - 1) is self.mode:
                TorchFunctionMode.__exit__(self.mode, None, None, None)


def join(graph: Graph, nested: list[tuple[int, Graph]]) -> None:
    """Add each nested pass's nodes and edges to ``graph`` after its own ids (NOTE [nested backward])."""
    for outer, inner in nested:
        offset = max(graph.nodes, default=-1) + 1
        for n, attrs in inner.nodes(data=True):
            attrs = dict(attrs, nested_in=outer)
            if attrs.get("kind") == "root":  # started by the outer node, when it ran
                attrs.update(name=attrs.get("name") or "recomputed", step=graph.nodes[outer].get("step"))
            graph.add_node(offset + n, **attrs)
        for u, v, attrs in inner.edges(data=True):
            graph.add_edge(offset + u, offset + v, **attrs)
        for r in inner.graph.get("roots", []):
            seed = (inner.nodes[r].get("grad_in") or [None])[0]
            graph.add_edge(
                outer,
                offset + r,
                slots=[],
                input_nrs=[],
                input_nr=0,
                inputs=[],
                grad=seed,
                local=None,
                jacobian=None,
                nested=True,
            )
