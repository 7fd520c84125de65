"""graphtrace: see PyTorch autograd as annotated graphs, with the real numbers."""

from __future__ import annotations

from typing import Any

from ._errors import GraphtraceError, GraphvizNotFoundError, TraceFormatError
from .model import Pass, Trace, load, loads
from .notebook import show

__version__ = "0.1.0"

__all__ = [
    "GraphtraceError",
    "GraphvizNotFoundError",
    "Pass",
    "Trace",
    "TraceFormatError",
    "__version__",
    "load",
    "loads",
    "show",
    "snapshot",
    "trace",
]


def trace(**options: Any) -> Any:
    """Record every backward pass run inside ``with graphtrace.trace() as t:`` into ``t.passes``."""
    from .capture import Tracer  # torch is imported only when capturing

    return Tracer(**options)


def snapshot(tensors: Any, **options: Any) -> Pass:
    """The graph behind a tensor (or tensors) as a pass, without running backward."""
    from .capture import snapshot as _snapshot

    return _snapshot(tensors, **options)


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext graphtrace``: registers the ``%%graphtrace`` cell magic."""
    from .notebook import load_ipython_extension as _load

    _load(ipython)
