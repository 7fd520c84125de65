"""The capture layer: the only part of graphtrace that imports torch."""

from .tracer import Tracer, snapshot
from .values import JACOBIAN_LIMIT, VALUE_LIMIT

__all__ = ["JACOBIAN_LIMIT", "VALUE_LIMIT", "Tracer", "snapshot"]
