"""The capture layer: the only part of graphtrace that imports torch."""

from .._options import VALUE_LIMIT, SnapshotOptions, TraceOptions
from .tracer import Tracer, snapshot
from .values import JACOBIAN_LIMIT

__all__ = ["JACOBIAN_LIMIT", "VALUE_LIMIT", "SnapshotOptions", "TraceOptions", "Tracer", "snapshot"]
