"""Rendering of passes: DOT source (pure strings, no torch), SVG/PNG/PDF through dot, HTML pages."""

from __future__ import annotations

from typing import Any

from .._types import Graph
from . import views
from ._backend import pipe
from ._dot import to_dot_source

__all__ = ["pipe", "render", "to_dot", "to_html", "to_svg", "trace_html"]


def _view(graph: Graph, depth: int | None, expand: tuple[Any, ...], fold: bool | None,
          budget: int | None) -> Graph:
    """The graph to draw, reduced by views.apply (budget None: its default budget)."""
    options: dict[str, Any] = {"depth": depth, "expand": expand, "fold": fold}
    if budget is not None:
        options["budget"] = budget
    return views.apply(graph, **options)


def to_dot(graph: Graph, *, values: bool = True, clusters: bool = False, depth: int | None = None,
           expand: tuple[Any, ...] = (), fold: bool | None = None, budget: int | None = None) -> str:
    """DOT source of a pass graph: numbers shown unless ``values=False``; module boxes if ``clusters``.

    ``depth``, ``expand``, ``fold`` and ``budget`` choose the view of a big pass (see views.apply).
    """
    return to_dot_source(_view(graph, depth, expand, fold, budget), values=values, clusters=clusters)


def render(graph: Graph, fmt: str, **options: Any) -> bytes:
    """The pass drawn by dot as ``fmt`` (svg, png or pdf) bytes; options as for to_dot."""
    return pipe(to_dot(graph, **options), fmt)


def to_svg(graph: Graph, **options: Any) -> str:
    """The pass as SVG text; options as for to_dot."""
    return render(graph, "svg", **options).decode("utf-8")


def to_html(graph: Graph, *, values: bool = True, clusters: bool = False, depth: int | None = None,
            expand: tuple[Any, ...] = (), fold: bool | None = None, budget: int | None = None,
            svg: str | None = None) -> str:
    """A self-contained page stepping through the backward pass (buttons or arrow keys).

    ``svg``: the pass's SVG drawn already with the same options, so that dot need not run again.
    """
    from ._html import step_page

    return step_page(_view(graph, depth, expand, fold, budget), values=values, clusters=clusters, svg=svg)


def trace_html(trace: Any) -> str:
    """Every pass of a Trace as one HTML block of titled SVGs (notebook display)."""
    from ._html import trace_fragment

    return trace_fragment([(p.graph, to_dot(p.graph)) for p in trace])
