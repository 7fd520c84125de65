"""Running Graphviz's dot on DOT source through the graphviz package (knows nothing of passes)."""

from __future__ import annotations

import re

from .._errors import GraphtraceError, GraphvizNotFoundError
from . import _drawer
from ._svg import finish

IMAGE_FORMATS = ("svg", "png", "pdf")  # what a pass is drawn as by dot
_DOT_OUTPUTS = (*IMAGE_FORMATS, "dot", "plain")  # what pipe asks dot for
_PDF_DATE = re.compile(rb"/(CreationDate|ModDate) \(D:(\d{14})")


def pipe(dot_source: str, fmt: str) -> bytes:
    """The output of ``dot -T<fmt>`` on ``dot_source``; GraphvizNotFoundError when dot is missing."""
    return _run(dot_source, fmt, kept=False)


def image(dot_source: str, fmt: str) -> bytes:
    """``pipe`` for a source written by to_dot: its SVG drawn by the kept dot (NOTE [kept dot])."""
    return _run(dot_source, fmt, kept=fmt == "svg")


def _run(dot_source: str, fmt: str, kept: bool) -> bytes:
    if fmt not in _DOT_OUTPUTS:
        raise GraphtraceError(f"cannot render to {fmt!r}: use one of {', '.join(_DOT_OUTPUTS)}")
    data = dot_source.encode("utf-8", "backslashreplace")
    status, code, out = _drawer.draw(data, fmt, kept) or _drawer.here(data, fmt, kept)
    if status == _drawer.NOT_FOUND:
        raise GraphvizNotFoundError("dot")
    if status == _drawer.FAILED:
        message = out.decode("utf-8", "replace").strip()
        raise GraphtraceError(f"dot -T{fmt} failed (exit {code}): {message}")
    if fmt == "svg":  # NOTE [text fits its box], NOTE [dark mode] in _svg.py
        return finish(out.decode("utf-8")).encode("utf-8")
    if fmt == "pdf":  # cairo writes the creation date: pin it (same length) for identical files
        return _PDF_DATE.sub(lambda m: b"/" + m.group(1) + b" (D:19700101000000", out)
    return out
