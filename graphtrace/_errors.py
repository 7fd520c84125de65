"""The exceptions graphtrace raises: one base class, a few specific ones."""


class GraphtraceError(Exception):
    """Base class of every error graphtrace raises on purpose."""


class TraceFormatError(GraphtraceError, ValueError):
    """A trace file is not valid graphtrace JSON."""


class GraphvizNotFoundError(GraphtraceError, RuntimeError):
    """The Graphviz ``dot`` program is not installed."""

    def __init__(self, program: str = "dot") -> None:
        super().__init__(
            f"Graphviz's '{program}' program was not found on PATH; install it "
            "(Debian/Ubuntu: apt-get install graphviz; macOS: brew install graphviz)"
        )
