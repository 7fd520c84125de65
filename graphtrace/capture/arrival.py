"""Which gradients are read where they arrive, and which nodes still need a post-hook of ours."""

from __future__ import annotations

from typing import Any

from .walk import Skeleton

# NOTE [read where they arrive]: torch notices a post-hook on a node. The engine keeps the
# node's incoming gradients while it runs only when it had post-hooks as it started, and hands
# them to every post-hook, so a post-hook the program adds while the node runs (from a
# saved-tensor unpack hook) gets the gradients where plain torch gives it none (engine.cpp,
# ``call_function``: ``had_post_hooks``). And a post-hook of ours, registered when the pass
# starts, runs before any the program adds later, which may replace what leaves the node.
# So what leaves a node is read where it arrives: the next node's pre-hook sees the very
# gradient the engine hands it, after every post-hook of the parent. That is exact only when
# nothing stands between: the input gets one contribution (a sum of several hides the parts),
# no tensor hook of the program runs first (torch runs them before any node pre-hook; a
# leaf's are known from ``_backward_hooks``, an inner node's are not), and ours is the
# node's first Python pre-hook. Leaves that are so are ``clean``; an edge into a clean leaf
# through one slot is read at arrival. Every other edge is read by a post-hook on its parent
# as before, which then records nothing if the program added a post-hook after ours (its
# values may not be what flowed: not drawn rather than misstated). A custom Function's node
# keeps its post-hook (it ends NOTE [nested backward]), and so does a module hook node
# (NOTE [hooks seen]: the user's hooks are its post-hooks already).


def first_pre_hook(handle: Any) -> bool:
    """``handle``'s hook is the first Python pre-hook of its node (none of the program's runs before)."""
    hooks = handle.hooks_dict_ref()
    return hooks is not None and next(iter(hooks), None) == handle.id


def last_post_hook(handle: Any) -> bool:
    """No Python post-hook was added to the node after ``handle``'s (none runs after it)."""
    hooks = handle.hooks_dict_ref()
    return hooks is not None and next(reversed(hooks), None) == handle.id


def read_at_arrival(sk: Skeleton, clean: set[int]) -> dict[int, list[tuple[int, int]]]:
    """Node v -> the (parent, input) edges whose gradient v's pre-hook reads (NOTE [read where they arrive])."""
    count: dict[tuple[int, int], int] = {}
    for (_, v), edge in sk.edges.items():
        for nr in edge["input_nrs"]:
            count[(v, nr)] = count.get((v, nr), 0) + 1
    arrive: dict[int, list[tuple[int, int]]] = {}
    for (u, v), edge in sk.edges.items():
        if u >= len(sk.roots) and v in clean and len(edge["slots"]) == 1 and count[(v, edge["input_nrs"][0])] == 1:
            arrive.setdefault(v, []).append((u, edge["input_nrs"][0]))
    return arrive
