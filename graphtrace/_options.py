"""The options of ``trace()`` and ``snapshot()``: frozen, validated once, no torch."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._errors import GraphtraceError

if TYPE_CHECKING:
    from .model import Counted, Pass

VALUE_LIMIT = 64  # tensors with at most this many elements are recorded in full


def _count(name: str, value: Any, *, optional: bool = False) -> None:
    """``value`` is a non-negative int (or None when ``optional``), never a bool."""
    if optional and value is None:
        return
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        what = "a non-negative int or None" if optional else "a non-negative int"
        raise GraphtraceError(f"{name} must be {what}, not {value!r}")


def _flag(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise GraphtraceError(f"{name} must be True or False, not {value!r}")


@dataclass(frozen=True)
class SnapshotOptions:
    """What ``snapshot()`` records (see ``graphtrace.snapshot``)."""

    value_limit: int = VALUE_LIMIT
    jacobians: bool = True

    def __post_init__(self) -> None:
        _count("value_limit", self.value_limit)
        _flag("jacobians", self.jacobians)


@dataclass(frozen=True)
class TraceOptions(SnapshotOptions):
    """What ``trace()`` records, and where its passes go (see ``graphtrace.trace``)."""

    values: bool = True
    provenance: bool = True
    value_passes: int | None = None  # only the first N passes record tensor values (None: all)
    jacobian_passes: int | None = None  # only the first N passes get local Jacobians (None: all)
    on_pass: Callable[[Pass], None] | None = None
    keep: bool | int = True  # True: every pass into t.passes; False: none; N: the first N
    check: bool = False  # check each small node's backward against finite differences
    count_only: Callable[[int, str], bool] | None = None  # (index, signature): True to only count the pass
    on_counted: Callable[[Counted], None] | None = None  # called with each pass only counted

    def __post_init__(self) -> None:
        super().__post_init__()
        _flag("values", self.values)
        _flag("provenance", self.provenance)
        _flag("check", self.check)
        _count("value_passes", self.value_passes, optional=True)
        _count("jacobian_passes", self.jacobian_passes, optional=True)
        if self.on_pass is not None and not callable(self.on_pass):
            raise GraphtraceError(f"on_pass must be a function taking a Pass, not {self.on_pass!r}")
        for name in ("count_only", "on_counted"):
            if getattr(self, name) is not None and not callable(getattr(self, name)):
                raise GraphtraceError(f"{name} must be a function, not {getattr(self, name)!r}")
        if not isinstance(self.keep, bool):
            _count("keep", self.keep)

    def values_in(self, index: int) -> bool:
        """Pass number ``index`` (from 1) records tensor values."""
        return self.values and (self.value_passes is None or index <= self.value_passes)

    def jacobians_in(self, index: int) -> bool:
        """Pass number ``index`` (from 1) gets local Jacobians."""
        return self.jacobians and (self.jacobian_passes is None or index <= self.jacobian_passes)

    def keeps(self, kept: int) -> bool:
        """One more pass goes into ``t.passes`` when ``kept`` are there already."""
        return self.keep if isinstance(self.keep, bool) else kept < self.keep
