"""The public API: a small, sorted __all__ that matches what graphtrace exports."""

from __future__ import annotations

import graphtrace


def test_all_is_sorted_and_complete():
    assert graphtrace.__all__ == sorted(graphtrace.__all__)
    public = {n for n in dir(graphtrace) if not n.startswith("_") or n == "__version__"}  # lazy names too
    modules = {n for n in public if type(getattr(graphtrace, n)).__name__ == "module"}
    assert set(graphtrace.__all__) == public - modules - {"annotations", "Any", "load_ipython_extension"}


def test_every_error_is_a_graphtrace_error():
    for name in ("TraceFormatError", "GraphvizNotFoundError"):
        assert issubclass(getattr(graphtrace, name), graphtrace.GraphtraceError)
