"""The trace model: passes as networkx graphs of plain data, their JSON files and schema (no torch)."""

from .counted import Counted
from .trace import PASS_FORMAT, SAVE_FORMATS, TRACE_FORMAT, Pass, Trace, load, loads

__all__ = ["PASS_FORMAT", "SAVE_FORMATS", "TRACE_FORMAT", "Counted", "Pass", "Trace", "load", "loads"]
