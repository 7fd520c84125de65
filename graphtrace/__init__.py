"""graphtrace: see PyTorch autograd as annotated graphs, with the real numbers."""

from __future__ import annotations

import importlib
import typing

from . import _options
from ._errors import GraphtraceError, GraphvizNotFoundError, TraceFormatError

if typing.TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    import torch

    from .capture import Tracer
    from .model import Counted, Pass, Trace, load, loads
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

# NOTE [lazy package]: ``import graphtrace`` (and so the ``graphtrace`` command's start, and
# ``--help``) imports no networkx, jsonschema or graphviz: the model and notebook names are
# imported on first use, through the module ``__getattr__`` (PEP 562). bench/cli_training_loop.py
# --start measures what the command adds before a script's first line.
_LAZY = {"Pass": "model", "Trace": "model", "load": "model", "loads": "model", "show": "notebook"}


def __getattr__(name: str) -> typing.Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


def trace(
    *,
    values: bool = True,
    value_limit: int = _options.VALUE_LIMIT,
    provenance: bool = True,
    jacobians: bool = True,
    value_passes: int | None = None,
    jacobian_passes: int | None = None,
    on_pass: Callable[[Pass], None] | None = None,
    keep: bool | int = True,
    check: bool = False,
    count_only: Callable[[int, str], bool] | None = None,
    on_counted: Callable[[Counted], None] | None = None,
) -> Tracer:
    """Record every backward pass run inside ``with graphtrace.trace() as t:`` into ``t.passes``.

    ``t`` is a ``Trace``; it keeps the passes after the block. Every pass run through
    ``Tensor.backward``, ``torch.autograd.backward`` or ``torch.autograd.grad`` is recorded.

    values: record tensor values (gradients, leaves, forward outputs); False draws the graph only.
    value_limit: tensors of at most this many elements are kept in full, larger ones summarised.
    provenance: tag each forward op of the block with its source line and ``nn.Module``.
    jacobians: compute the local Jacobian of small nodes (exact per-edge derivatives).
    value_passes: only the first N passes record values (None: every pass).
    jacobian_passes: only the first N passes get Jacobians (None: every pass).
    on_pass: called with each pass as soon as it is recorded.
    keep: True keeps every pass in ``t.passes``; False none (stream them through ``on_pass``);
        an int N the first N. ``t.count`` counts every pass recorded either way.
    check: check the backward of every small node against central finite differences of the
        forward call that made it (on float64 copies; see NOTE [gradient check]); each checked
        node gets ``check`` (status ok, mismatch or skipped) and the pass a summary.
    count_only: called with a pass's number and graph signature before it runs, for passes of a
        structure recorded in full before (same call site, the very same leaf tensors); True:
        the pass is only counted (no graph; the gradient of each named leaf recorded exactly
        as a full recording would) and goes to ``on_counted`` as a ``graphtrace.model.Counted``,
        not to ``on_pass`` or ``t.passes``. Passes with a custom Function, nested ones and
        ``check=True`` are always recorded in full (NOTE [counted passes]). After a pass only
        counted it is also asked about the next pass, before that pass's forward runs, with the
        structures of the latest passes (once per pass and structure; the answer is kept for
        the pass): while the next will be counted too, the block's forward runs without
        graphtrace's torch function mode (NOTE [lean steady state]).
    on_counted: called with each pass only counted.
    Raises GraphtraceError for an option of the wrong type or range.
    """
    from .capture import Tracer  # torch is imported only when capturing

    return Tracer(
        _options.TraceOptions(
            values=values,
            value_limit=value_limit,
            provenance=provenance,
            jacobians=jacobians,
            value_passes=value_passes,
            jacobian_passes=jacobian_passes,
            on_pass=on_pass,
            keep=keep,
            check=check,
            count_only=count_only,
            on_counted=on_counted,
        )
    )


def snapshot(
    tensors: torch.Tensor | Sequence[torch.Tensor],
    *,
    value_limit: int = _options.VALUE_LIMIT,
    jacobians: bool = True,
) -> Pass:
    """The graph behind a tensor (or tensors) as a pass, without running backward.

    value_limit: tensors of at most this many elements are kept in full, larger ones summarised.
    jacobians: compute the local Jacobian of small nodes.
    Raises GraphtraceError when ``tensors`` has no autograd graph or an option is wrong.
    """
    from .capture import snapshot as _snapshot

    return _snapshot(tensors, _options.SnapshotOptions(value_limit=value_limit, jacobians=jacobians))


def load_ipython_extension(ipython: typing.Any) -> None:
    """``%load_ext graphtrace``: registers the ``%%graphtrace`` cell magic."""
    from .notebook import load_ipython_extension as _load

    _load(ipython)
