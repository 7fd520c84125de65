"""Rendering of passes: DOT source (pure strings, no torch), SVG/PNG/PDF through dot, HTML pages.

One function per output, used by every front and by the model's convenience methods:
``to_dot``, ``to_svg``, ``render`` (SVG/PNG/PDF bytes), ``to_html`` (the step page, charts
included), ``draw`` (several of them at once, dot run once per image), ``pass_bundle`` and
``trace_bundle`` (notebook display).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from .._errors import GraphtraceError
from .._types import Graph
from . import views
from ._backend import IMAGE_FORMATS, image, pipe
from ._dot import to_dot_source
from ._labels import pass_title
from ._numbers import shape_text
from .display import pass_bundle, trace_bundle

__all__ = [
    "DRAW_FORMATS",
    "IMAGE_FORMATS",
    "draw",
    "pass_bundle",
    "pass_title",
    "pipe",
    "render",
    "shape_text",
    "to_dot",
    "to_html",
    "to_svg",
    "trace_bundle",
    "trace_html",
    "view",
]

DRAW_FORMATS = (*IMAGE_FORMATS, "dot", "html")  # what render makes of a pass (JSON and GraphML: the model)
_VIEW_OPTIONS = ("depth", "expand", "fold", "budget")


def _view(graph: Graph, depth: int | None, expand: tuple[Any, ...], fold: bool | None, budget: int | None) -> Graph:
    """The graph to draw, reduced by views.apply (budget None: its default budget)."""
    options: dict[str, Any] = {"depth": depth, "expand": expand, "fold": fold}
    if budget is not None:
        options["budget"] = budget
    return views.apply(graph, **options)


def view(
    graph: Graph,
    *,
    depth: int | None = None,
    expand: tuple[Any, ...] = (),
    fold: bool | None = None,
    budget: int | None = None,
) -> Graph:
    """The graph drawn for these options (views.apply; budget None: its default budget).

    Pass it on as ``view=`` to ``draw``, ``to_dot`` or ``to_html`` with the same options, so a
    big pass is reduced once for its picture and its page.
    """
    return _view(graph, depth, expand, fold, budget)


def to_dot(
    graph: Graph,
    *,
    values: bool = True,
    clusters: bool = False,
    depth: int | None = None,
    expand: tuple[Any, ...] = (),
    fold: bool | None = None,
    budget: int | None = None,
    view: Graph | None = None,
) -> str:
    """DOT source of a pass graph: numbers shown unless ``values=False``; module boxes if ``clusters``.

    ``depth``, ``expand``, ``fold`` and ``budget`` choose the view of a big pass (see views.apply);
    ``view``: that view made already by ``render.view`` with the same options.
    """
    drawn = view if view is not None else _view(graph, depth, expand, fold, budget)
    return to_dot_source(drawn, values=values, clusters=clusters)


def render(graph: Graph, fmt: str, **options: Any) -> bytes:
    """The pass drawn by dot as ``fmt`` (svg, png or pdf) bytes; options as for to_dot."""
    return image(to_dot(graph, **options), fmt)


def to_svg(graph: Graph, **options: Any) -> str:
    """The pass as SVG text; options as for to_dot."""
    return render(graph, "svg", **options).decode("utf-8")


def to_html(
    graph: Graph,
    *,
    values: bool = True,
    clusters: bool = False,
    depth: int | None = None,
    expand: tuple[Any, ...] = (),
    fold: bool | None = None,
    budget: int | None = None,
    svg: str | None = None,
    links: dict[str, str] | None = None,
    view: Graph | None = None,
) -> str:
    """A self-contained page stepping through the backward pass (buttons or arrow keys), with
    the chart of values and gradients when the pass has one (charts.value_grad_chart).

    ``svg``: the pass's SVG drawn already with the same options, so that dot need not run again.
    ``links``: hrefs of the ``prev``ious and ``next`` pass pages and the ``index`` of a run folder.
    ``view``: the view made already by ``render.view`` with the same options.
    """
    from . import charts
    from ._html import add_before_body, step_page

    drawn = view if view is not None else _view(graph, depth, expand, fold, budget)
    page = step_page(drawn, values=values, clusters=clusters, svg=svg, links=links)
    return add_before_body(page, charts.value_grad_chart(graph)) if values else page


def draw(graph: Graph, formats: Iterable[str], **options: Any) -> Iterator[tuple[str, str | bytes]]:
    """(format, data) for each of ``formats`` (DRAW_FORMATS), in the order dot, svg, png, pdf, html.

    The DOT source is built once and dot runs once per image format; the page shows the SVG
    drawn here when svg is asked for too. Options as for to_dot (``view`` included).
    """
    wanted = set(formats)
    unknown = sorted(wanted - set(DRAW_FORMATS))
    if unknown:
        raise GraphtraceError(f"cannot draw a pass as {unknown[0]!r}: use one of {', '.join(DRAW_FORMATS)}")
    if "html" in wanted and options.get("view") is None:  # reduced once for the picture and the page
        options["view"] = view(graph, **{k: v for k, v in options.items() if k in _VIEW_OPTIONS})
    source = to_dot(graph, **options)
    if "dot" in wanted:
        yield "dot", source
    svg = None
    for fmt in IMAGE_FORMATS:
        if fmt in wanted:
            data = image(source, fmt)
            svg = data.decode("utf-8") if fmt == "svg" else svg
            yield fmt, data
    if "html" in wanted:
        yield "html", to_html(graph, svg=svg, **options)


def trace_html(trace: Any) -> str:
    """Every pass of a Trace as one HTML block of titled SVGs (notebook display)."""
    from ._html import trace_fragment

    return trace_fragment([(p.graph, to_dot(p.graph)) for p in trace])
