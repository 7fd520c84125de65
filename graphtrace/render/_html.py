"""HTML outputs: the self-contained step-through page of a pass, and a whole trace for notebooks."""

from __future__ import annotations

import html
import json
from typing import Any

from .._types import Graph
from . import _assets
from ._backend import image
from ._dot import to_dot_source
from ._labels import pass_title
from ._steps import steps
from ._svg import picture_id_of, reprefix, unprefix


def inline_svg(svg: str) -> str:
    """dot's SVG without its XML prolog, for an HTML page."""
    return svg[svg.index("<svg") :]


def script_json(data: Any) -> str:
    """JSON safe inside a <script> element: '<', '>' and '&' as \\u escapes, so no '</script>'."""
    text = json.dumps(data, sort_keys=True, ensure_ascii=False, allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


_LINKS = (("prev", "◀ previous pass"), ("index", "all passes"), ("next", "next pass ▶"))  # ids gt-<key>-pass
_KEY = (
    '<p id="gt-key"><span class="gt-k gt-k-current"></span>this step\'s node '
    '<span class="gt-k gt-k-in"></span>gradient arriving <span class="gt-k gt-k-out"></span>gradient leaving '
    '(= arriving × local derivative) <span class="gt-k gt-k-todo"></span>later steps: their gradients '
    "are hidden until computed</p>"
)


def nav(links: dict[str, str] | None) -> str:
    """Links to the previous and next pass pages and the index (those given), for a run folder."""
    items = [
        f'<a id="gt-{key}-pass" href="{html.escape(links[key])}">{text}</a>'
        for key, text in _LINKS
        if links and links.get(key)
    ]
    return f"<nav>{' '.join(items)}</nav>" if items else ""


def step_page(
    graph: Graph,
    *,
    values: bool = True,
    clusters: bool = False,
    svg: str | None = None,
    links: dict[str, str] | None = None,
) -> str:
    """The page: header with step buttons, the SVG, a side panel, data as JSON, inline CSS and JS.

    ``links``: hrefs of the ``prev``ious and ``next`` pass pages and the ``index``, where there are.
    """
    if svg is None:  # the DOT source is built only when no SVG was drawn from it already
        svg = image(to_dot_source(graph, values=values, clusters=clusters), "svg").decode("utf-8")
    svg = unprefix(inline_svg(svg))  # one picture
    title = html.escape(pass_title(graph))
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f'<meta http-equiv="Content-Security-Policy" content="{_assets.CSP}">',
            '<link rel="icon" href="data:,">',
            f"<title>graphtrace: {title}</title>",
            f"<style>{_assets.CSS}</style></head><body>",
            f"<header><h1>{title}</h1>",
            '<button id="gt-first" title="first step (Home)">« first</button>',
            '<button id="gt-prev" title="previous step (←)">◀ prev</button>',
            '<span id="gt-pos"></span>',
            '<button id="gt-next" title="next step (→)">next ▶</button>',
            '<button id="gt-last" title="last step (End)">last »</button>',
            f"{nav(links)}</header>{_KEY}",
            f'<main><div id="gt-graph">{svg}</div><aside id="gt-panel"></aside></main>',
            f'<script type="application/json" id="gt-data">{script_json({"steps": steps(graph, values)})}</script>',
            f"<script>{_assets.JS}</script>",
            "</body></html>",
            "",
        ]
    )


def add_before_body(page: str, fragment: str | None) -> str:
    """``page`` with an HTML fragment added just before ``</body>`` (appended if there is none)."""
    if not fragment:
        return page
    at = page.rfind("</body>")
    return page + fragment if at < 0 else page[:at] + fragment + "\n" + page[at:]


def trace_fragment(passes: list[tuple[Graph, str]]) -> str:
    """Passes (graph, DOT source) titled, their SVG inline, in one block (for a notebook cell)."""
    parts = ['<div class="graphtrace-trace">']
    seen: set[str] = set()
    for k, (graph, dot_source) in enumerate(passes, 1):
        summary = html.escape(pass_title(graph))
        # ids unique per picture (NOTE [dark mode] in _svg.py) ...
        svg = inline_svg(image(dot_source, "svg").decode("utf-8"))
        pid = picture_id_of(svg)
        if pid in seen:  # ... and the same picture twice gets new ones
            svg = reprefix(svg, f"{pid}x{k}")
        seen.add(picture_id_of(svg))
        parts.append(f"<details open><summary>{summary}</summary>{svg}</details>")
    parts.append("</div>")
    return "\n".join(parts) + "\n"
