"""The options the fronts share (``graphtrace run``/``render``, the ``%%graphtrace`` magic): one definition of each."""

from __future__ import annotations

from dataclasses import dataclass

from ._errors import GraphtraceError


@dataclass(frozen=True)
class IntOption:
    """An integer option with a lower bound, checked before anything runs."""

    flag: str
    metavar: str
    help: str
    minimum: int

    def check(self, value: int | None) -> int | None:
        """``value`` when it is allowed (None: not given); GraphtraceError (one line) otherwise."""
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < self.minimum):
            raise GraphtraceError(f"{self.flag} must be at least {self.minimum}, not {value!r}")
        return value


@dataclass(frozen=True)
class FlagOption:
    """An on/off option: ``flag`` turns it on, ``off`` (when the front offers it) turns it off."""

    flag: str
    off: str
    help: str


DEPTH = IntOption("--depth", "N", "Draw a collapsed view: each nn.Module at path depth N as one box.", 1)
MAX_PASSES = IntOption(
    "--max-passes", "N", "Record at most the first N passes; later ones are only counted (the program runs on).", 1
)
VALUES = FlagOption(
    "--values", "--no-values", "Record tensor values and gradients (--no-values: the graph only, faster)."
)
