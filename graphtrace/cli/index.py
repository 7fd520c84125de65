"""The index.html of an output folder: every pass with links and previews, groups, gradient flow."""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape
from typing import Any

from .._types import Graph
from ..model import Counted
from ..render import shape_text
from ..render.charts import grad_flow_chart
from ..render.heatmap import grad_heatmap

ORDER = ("html", "svg", "png", "pdf", "dot", "json")  # link order in the table


@dataclass
class Entry:
    """What the index and the terminal summary show of one pass (plain data, no graph)."""

    number: int  # the file number: pass-001.*
    index: int
    kind: str
    api: str
    call_site: str
    caller: str
    nodes: int
    root_shape: str
    steps: int
    error: str
    signature: str
    files: dict[str, str] = field(default_factory=dict)  # format -> file name, once written

    @classmethod
    def of(cls, number: int, graph: Graph) -> Entry:
        g = graph.graph
        return cls(
            number=number,
            index=int(g.get("index") or number),
            kind=str(g.get("kind", "")),
            api=str(g.get("api", "")),
            call_site=str(g.get("call_site", "")),
            caller=str(g.get("caller", "")),
            nodes=graph.number_of_nodes(),
            root_shape=root_shape(graph),
            steps=int(g.get("steps") or 0),
            error=str(g.get("error", "")),
            signature=str(g.get("signature", "")),
        )

    @classmethod
    def counted(cls, number: int, c: Counted) -> Entry:
        """The entry of a pass only counted: its steps were not recorded (0; such an entry starts
        a run of the summary at most, which shows no steps, and is never written)."""
        shapes = ", ".join(shape_text(s) for s in c.root_shapes) or "?"
        return cls(number, c.index, c.kind, c.api, c.call_site, c.caller, c.nodes, shapes, 0, c.error, c.signature)


@dataclass
class PassGroup:
    """Passes after the first ones that share one structure (graph signature): how many ran, which
    were written (its first and its latest recorded in full) and how many were only counted."""

    signature: str
    call_site: str
    first: int
    last: int
    count: int = 1
    drawn: list[int] = field(default_factory=list)
    counted: int = 0  # passes only counted (NOTE [which passes are written])


FULL_EVERY = 1024


def in_full(member: int) -> bool:
    """The ``member``-th pass of a group (from 1) is recorded in full (NOTE [which passes are written])."""
    return member & (member - 1) == 0 or member % FULL_EVERY == 0


GROUPS_RULE = (
    "After the first {always} passes, passes with the same graph structure form a group. Of each "
    f"group, the 1st, 2nd, 4th, 8th, ... pass and every {FULL_EVERY}th are recorded in full, and two are "
    "written: its first pass and its latest pass recorded in full. The others are only counted: "
    "their gradient statistics (exact) are in the charts above, nothing else of them is kept."
)  # NOTE [which passes are written] in writer.py


def root_shape(graph: Graph) -> str:
    roots = graph.graph.get("roots") or []
    shapes = [shape_text(graph.nodes[r].get("shape")) for r in roots if r in graph]
    return ", ".join(shapes) or "?"


def file_name(number: int, fmt: str) -> str:
    return f"pass-{number:03d}.{fmt}"


_STYLE = """
body{font-family:Helvetica,Arial,sans-serif;margin:24px;color:#222;max-width:1200px}
h1{font-size:20px;margin:0 0 4px} h2{font-size:16px;margin:24px 0 8px}
.muted{color:#666} code{background:#f3f3f3;padding:2px 4px;border-radius:3px;line-height:1.6}
table{border-collapse:collapse;font-size:13px} th,td{border-bottom:1px solid #e3e3e3;padding:6px 10px;
text-align:left;vertical-align:middle} th{background:#fafafa} td.num{text-align:right}
img.preview{max-width:180px;max-height:110px;border:1px solid #ddd;background:#fff}
.err{color:#b00020} .note{background:#fff8e1;border:1px solid #f0d98a;padding:8px 12px;margin:12px 0}
"""


def _links(e: Entry) -> str:
    return " ".join(f'<a href="{escape(e.files[f])}">{f}</a>' for f in ORDER if f in e.files)


def _preview(e: Entry) -> str:
    img = e.files.get("svg") or e.files.get("png")
    if not img:
        return '<span class="muted">no picture</span>'
    target = e.files.get("html") or img
    return (
        f'<a href="{escape(target)}"><img class="preview" src="{escape(img)}" loading="lazy" alt="pass {e.index}"></a>'
    )


def _row(e: Entry) -> str:
    site = escape(e.call_site) + (f'<br><span class="muted">via {escape(e.caller)}</span>' if e.caller else "")
    err = f'<br><span class="err">{escape(e.error)}</span>' if e.error else ""
    return (
        f'<tr id="pass-{e.number}"><td class="num">{e.index}</td><td>{_preview(e)}</td>'
        f'<td>{escape(e.kind)}<br><span class="muted">{escape(e.api)}</span></td>'
        f'<td><code>{site}</code>{err}</td><td class="num">{e.nodes}</td>'
        f"<td>{escape(e.root_shape)}</td><td>{_links(e)}</td></tr>"
    )


def index_html(run: dict[str, Any]) -> str:
    """The index page of a run (the content of its run.json), self-contained but for the pass files."""
    title, command, notes, always = run["title"], run["command"], run["notes"], run["always"]
    entries = [e if isinstance(e, Entry) else Entry(**e) for e in run["passes"]]
    groups = [g if isinstance(g, PassGroup) else PassGroup(**g) for g in run["groups"]]
    grad_stats, total, counted = run["grad_stats"], run["total"], run["counted_only"]
    drawn = sum(1 for e in entries if e.files)
    in_groups = sum(g.counted for g in groups)
    head = (
        f"{total} backward pass{'es' if total != 1 else ''} ran, {drawn} written"
        f"{' (grouped by structure after the first ' + str(always) + ')' if groups else ''}"
        f"{f'; {in_groups} of the repeated passes only counted' if in_groups else ''}"
        f"{f'; {counted} after --max-passes only counted' if counted else ''}."
    )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>graphtrace: {escape(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>graphtrace: {escape(title)}</h1>",
        f'<p class="muted"><code>{escape(command)}</code><br>{escape(head)}</p>',
    ]
    parts += [f'<p class="note">{escape(n)}</p>' for n in notes]
    if grad_stats:
        parts.append("<h2>Gradient flow</h2>")
        parts.append(
            '<p class="muted">Per parameter (ordered as the backward pass reached them, output '
            "first): the mean over passes of the rms gradient norm/&radic;numel, and the largest "
            "|grad| element seen in any pass.</p>"
        )
        parts.append(grad_flow_chart(grad_stats))
    heatmap = grad_heatmap(run.get("grad_series") or {})
    if heatmap:
        parts.append(
            '<p class="muted">Over time: the rms gradient of each parameter in each recorded pass '
            "(a column is one real pass; long runs keep every 2nd, 4th, ... pass), on a log colour "
            "scale, with vanishing, exploding and NaN/Inf gradients in their own colours.</p>"
        )
        parts.append(heatmap)
    parts.append("<h2>Passes</h2>")
    parts.append(
        "<table><thead><tr><th>#</th><th>preview</th><th>kind</th><th>call site</th>"
        "<th>nodes</th><th>root shape</th><th>files</th></tr></thead><tbody>"
    )
    parts += [_row(e) for e in sorted(entries, key=lambda e: e.number)]
    parts.append("</tbody></table>")
    if groups:
        parts.append("<h2>Repeated passes</h2>")
        parts.append(f'<p class="muted">{escape(GROUPS_RULE.format(always=always))}</p>')
        parts.append(
            "<table><thead><tr><th>structure</th><th>call site</th><th>passes</th>"
            "<th>count</th><th>written</th><th>only counted</th></tr></thead><tbody>"
        )
        for g in groups:
            links = ", ".join(f'<a href="#pass-{n}">{n}</a>' for n in g.drawn)
            parts.append(
                f"<tr><td><code>{escape(g.signature[:12])}</code></td><td><code>"
                f"{escape(g.call_site)}</code></td><td>{g.first}&ndash;{g.last}</td>"
                f'<td class="num">{g.count}</td><td>{links}</td><td class="num">{g.counted}</td></tr>'
            )
        parts.append("</tbody></table>")
    parts.append("</body></html>\n")
    return "\n".join(parts)
