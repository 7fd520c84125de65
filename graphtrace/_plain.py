"""The one door through which graphtrace runs the user's own calls (told apart in tracebacks)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def plain_call(func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """``func(*args, **kwargs)``. NOTE [whose error]: an exception raised through this frame
    began in the user's call (their op, their hook, torch's check of their shapes), not in
    graphtrace; the runner shows it as Python would, with none of our frames."""
    return func(*args, **kwargs)
