"""The ``.. graphtrace::`` Sphinx directive: runs its code at build time and embeds each backward pass as SVG."""

from __future__ import annotations

import contextlib
import io
import os
import traceback
from pathlib import Path
from typing import Any, ClassVar

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.util.docutils import SphinxDirective

import graphtrace

# NOTE [sphinx directive]: like matplotlib's ``plot`` directive, the body is Python run when
# the docs are built, here inside ``graphtrace.trace()``; every backward pass it ran (or those
# chosen by ``:passes:``) is drawn by ``Pass.to_svg`` and embedded inline in the HTML, so the
# pictures always show what the code really computes. The code is compiled with the .rst
# file as its file name and its own line numbers, so call sites read ``index.rst:12``. The
# code runs in the document's folder with its output captured; an exception becomes one
# warning line in the build, not a traceback.


def _flag(value: str | None) -> bool:
    """A yes/no option: ``true``/``yes``/``1`` or ``false``/``no``/``0``; given empty it means yes."""
    text = (value or "true").strip().lower()
    if text in ("true", "yes", "1", "on"):
        return True
    if text in ("false", "no", "0", "off"):
        return False
    raise ValueError(f"expected true or false, not {value!r}")


def _passes(value: str | None) -> str:
    """``all``, ``last``, or pass numbers and ranges: ``1``, ``2-3``, ``1, 4``; checked when the code has run."""
    text = (value or "").strip().lower()
    if not text:
        raise ValueError("expected all, last, or pass numbers such as 1, 2-3")
    for part in text.split(","):
        part = part.strip()
        if part not in ("all", "last") and not all(p.strip().isdigit() for p in part.split("-", 1)):
            raise ValueError(f"{part!r} is not a pass number, a range a-b, all or last")
    return text


def chosen(spec: str, count: int) -> list[int]:
    """The 1-based pass numbers named by a ``:passes:`` value, in the order given, for ``count`` passes."""
    out: list[int] = []
    for part in (p.strip() for p in spec.split(",")):
        if part == "all":
            out += range(1, count + 1)
        elif part == "last":
            out.append(count)
        else:
            lo, _, hi = part.partition("-")
            out += range(int(lo), int(hi or lo) + 1)
    wrong = [k for k in out if not 1 <= k <= count]
    if wrong:
        raise ValueError(f"pass {wrong[0]} asked, but the code ran {count} backward pass{'es' * (count != 1)}")
    return list(dict.fromkeys(out))


class GraphtraceDirective(SphinxDirective):
    """``.. graphtrace::`` with Python code as its body (NOTE [sphinx directive])."""

    has_content = True
    option_spec: ClassVar[dict[str, Any]] = {
        "depth": directives.positive_int,
        "values": _flag,
        "clusters": _flag,
        "passes": _passes,
        "include-source": _flag,
    }

    def run(self) -> list[nodes.Node]:
        source, line = self.get_source_info()
        code = "\n" * self.content_offset + "\n".join(self.content) + "\n"  # lines as in the .rst file
        try:
            trace = _run(code, source, Path(source).parent)
            numbers = chosen(self.options.get("passes", "all"), len(trace.passes))
            options: dict[str, Any] = {
                "values": self.options.get("values", True),
                "clusters": self.options.get("clusters", False),
            }
            if "depth" in self.options:
                options["depth"] = self.options["depth"]
            svgs = [trace.passes[k - 1].to_svg(**options) for k in numbers]
        except Exception as exc:
            return [self.state.document.reporter.warning(f"graphtrace: {exc}", line=line)]
        out: list[nodes.Node] = []
        if self.options.get("include-source", True):
            block = nodes.literal_block("\n".join(self.content), "\n".join(self.content), language="python")
            out.append(block)
        if not svgs:
            out.append(self.state.document.reporter.warning("graphtrace: the code ran no backward pass", line=line))
        for svg in svgs:
            html = '<div class="graphtrace-figure">' + svg[svg.index("<svg") :] + "</div>"
            out.append(nodes.raw("", html, format="html"))
        return out


def _run(code: str, source: str, folder: Path) -> Any:
    """Run ``code`` in a fresh namespace inside ``graphtrace.trace()``, in ``folder``, output captured."""
    namespace: dict[str, Any] = {"__name__": "__graphtrace_docs__"}
    compiled = compile(code, source, "exec")
    old = os.getcwd()
    try:
        os.chdir(folder)
        with contextlib.redirect_stdout(io.StringIO()), graphtrace.trace() as trace:
            exec(compiled, namespace)
    except Exception as exc:
        where = next(
            (f"line {f.lineno}" for f in reversed(traceback.extract_tb(exc.__traceback__)) if f.filename == source), ""
        )
        raise RuntimeError(f"the code raised {type(exc).__name__}: {exc}" + (f" ({where})" if where else "")) from None
    finally:
        os.chdir(old)
    return trace


def setup(app: Any) -> dict[str, Any]:
    """Register the directive (``extensions = ["graphtrace.sphinxext"]`` in conf.py)."""
    app.add_directive("graphtrace", GraphtraceDirective)
    return {"version": graphtrace.__version__, "parallel_read_safe": True, "parallel_write_safe": True}
