"""A pass that was only counted: what an index needs of it (structure, call site, leaf gradients), no graph."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Counted:
    """One backward pass that ran and was only counted (NOTE [counted passes] in capture/counted.py).

    ``grads`` holds, for each leaf with a parameter or variable name, in node order:
    (that name, whether it is a parameter, the record of the gradient that reached it),
    the very record a pass recorded in full gives that leaf (``grad_in[0]``, or what
    ``torch.autograd.grad`` returned); None where no gradient reached it or values are off.
    """

    index: int
    kind: str
    api: str
    call_site: str
    caller: str
    signature: str  # the graph signature of the pass had it been recorded in full
    nodes: int
    root_shapes: list[list[int] | None]
    error: str = ""
    grads: list[tuple[str, bool, dict[str, Any] | None]] = field(default_factory=list)
