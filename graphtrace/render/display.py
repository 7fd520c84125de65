"""Notebook display of passes and traces: MIME bundles of the SVG, or the step page in a frame."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

from .._errors import GraphtraceError, GraphvizNotFoundError
from .._types import Graph

STEP_HEIGHT = 640  # pixels; the inline step-through frame can be resized by dragging its corner

# NOTE [inline step page]
# The step-through page (render.to_html) is a whole HTML document with its own script.
# Inline, it goes into an <iframe srcdoc="..."> (the document HTML-escaped into the
# attribute), sandboxed to "allow-scripts": its script runs, but in an opaque origin, so it
# cannot touch the notebook page and needs no server, file or network access. JupyterLab,
# Notebook 7 and VS Code all render such iframes in text/html outputs of trusted cells.
# The frame cannot size itself to its content (that would need same-origin access), so it
# sits in a box of ``height`` pixels that the reader can resize.


def iframe(page: str, height: int = STEP_HEIGHT, title: str = "graphtrace") -> str:
    """HTML of a resizable, sandboxed iframe showing the document ``page`` (NOTE [inline step page])."""
    return (
        f'<div style="resize: vertical; overflow: hidden; height: {int(height)}px; '
        'min-height: 120px; border: 1px solid #ccc; border-radius: 3px">'
        f'<iframe srcdoc="{html.escape(page, quote=True)}" sandbox="allow-scripts" '
        f'title="{html.escape(title, quote=True)}" '
        'style="width: 100%; height: 100%; border: 0; display: block"></iframe></div>'
    )


def pass_bundle(
    graph: Graph, text: str, *, step: bool = False, height: int = STEP_HEIGHT, **options: Any
) -> dict[str, Any]:
    """The SVG, or the step-through page in a frame, with ``text`` as plain text; one line if
    it cannot be drawn (the only display method: IPython would call a ``_repr_html_`` too,
    drawing the pass twice)."""
    from . import to_html, to_svg

    try:
        if step:
            return {"text/html": iframe(to_html(graph, **options), height, title=text), "text/plain": text}
        return {"image/svg+xml": to_svg(graph, **options), "text/plain": text}
    except GraphtraceError as exc:  # dot missing or failing: say so in one line, not a traceback
        return {"text/plain": f"{text}\ngraphtrace: cannot draw this pass: {exc}"}


def trace_bundle(passes: Sequence[Any], text: str) -> dict[str, Any]:
    """Every pass (each with its ``.graph``) as titled SVGs in one HTML block, or one line saying why not."""
    from . import trace_html

    if not passes:
        return {"text/plain": text + " (no backward pass ran inside the block)"}
    try:
        block = trace_html(passes)
    except GraphvizNotFoundError as exc:  # a notebook without dot: say so in one line
        return {"text/plain": f"{text}: cannot draw the passes: {exc}"}
    return {"text/html": block, "text/plain": text}
