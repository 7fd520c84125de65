"""The trace model: passes as networkx graphs of plain data, and their JSON files (no torch)."""

from __future__ import annotations

import errno
import json
import math
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from .. import render
from .._errors import GraphtraceError, TraceFormatError
from .._files import read_bytes, write_file
from .._first_use import first_use
from .._types import Graph, new_graph
from .schema import FORMAT_VERSION, validate, validate_pass

PASS_FORMAT = "graphtrace-pass"
TRACE_FORMAT = "graphtrace-trace"
MAX_FILE_BYTES = 512 * 1024 * 1024
SAVE_FORMATS = (*render.IMAGE_FORMATS, "dot", "json", "html", "graphml")  # every file a pass can be; the one list


# NOTE [fast JSON]
# A pass's JSON is mostly floats (1.7 million at 30,000 nodes), and the standard library spends
# about half a microsecond on each one's repr: 0.85 s CPU for a 30k-node pass. orjson (a
# well-kept encoder in Rust) writes the same data in 0.11 s, keys sorted the same way (UTF-8
# byte order is code point order), each float as the shortest text that reads back to the
# same double (``0.00001`` where repr gives ``1e-05``: the same number), and non-ASCII text
# as UTF-8 instead of ``\u`` escapes. One thing it does differently that matters: it writes
# NaN and Infinity as ``null``, which would state a number that did not happen. So the data
# is first checked to hold finite floats only (one walk, about 0.27 s at 30k), and anything
# orjson refuses (an int past 64 bits, a float subclass, a lone surrogate, nesting past 254
# levels) goes to the standard library, which writes it as before or raises as before
# (``ValueError`` for a non-finite float).
_ORJSON = orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE

# NOTE [fast JSON reading]
# Reading is the same story: the standard library parses a 10,000-node pass in about 0.5 s,
# orjson in a tenth of that. orjson reads every text the standard library reads here into the
# same data, except: NaN, Infinity and a float too large for a double (it refuses them: the
# standard library then reads the text and refuses them as before, ``1e400 is too large``), a
# lone surrogate (it refuses: read as before), and an integer past 64 bits, which it reads as
# a float. That last one it would get wrong silently, so a text with a run of 19 or more digits
# that is not a float's fraction or mantissa (not after a point or a digit, not before a point,
# digit or exponent) goes to the standard library, an integer past 64 bits or not (a string may
# hold one: read as before). Every error message is the standard library's. Floats read to the
# same double (checked on 600,000 random doubles and decimal strings, and on the saved passes).
_LONG_INTEGER = re.compile(r"(?<![0-9.])[0-9]{19,}(?![0-9.eE])")


def _parse(text: str) -> Any:
    """JSON text as plain data, finite numbers only; errors as json.loads raises them (NOTE [fast JSON reading])."""
    if not _LONG_INTEGER.search(text):
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass  # read again below: the standard library reads it or words the error
    return json.loads(text, parse_constant=_reject_constant, parse_float=_finite)


def _dumps(data: Any) -> str:
    """Serialise deterministically: sorted keys, finite numbers only, trailing newline (NOTE [fast JSON])."""
    try:
        if _all_finite(data):
            return orjson.dumps(data, option=_ORJSON).decode("utf-8")
    except (orjson.JSONEncodeError, RecursionError):
        pass
    return json.dumps(data, sort_keys=True, allow_nan=False, separators=(",", ":")) + "\n"


def _all_finite(data: Any) -> bool:
    """Whether every float in ``data`` (containers of plain values, subclasses included) is finite."""
    if isinstance(data, dict):
        data = data.values()
    elif not isinstance(data, (list, tuple)):
        return not isinstance(data, float) or math.isfinite(data)
    isfinite = math.isfinite
    for item in data:
        kind = type(item)
        if kind is float:
            if not isfinite(item):
                return False
        elif kind is str or kind is int or kind is bool or item is None:
            continue
        elif not _all_finite(item):
            return False
    return True


class Pass:
    """One recorded backward pass (or snapshot): a networkx DiGraph of plain attributes."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph

    # -- plain accessors ---------------------------------------------------------------
    @property
    def index(self) -> int:
        return int(self.graph.graph.get("index", 0))

    @property
    def kind(self) -> str:
        return str(self.graph.graph.get("kind", ""))

    @property
    def error(self) -> str:
        return str(self.graph.graph.get("error", ""))

    def node(self, name: str) -> dict[str, Any]:
        """Attributes of the node whose variable or parameter name is ``name``."""
        for _, attrs in self.graph.nodes(data=True):
            if name and name in (attrs.get("name"), attrs.get("param")):
                return attrs
        known = sorted({label for _, a in self.graph.nodes(data=True) if (label := a.get("name") or a.get("param"))})
        raise KeyError(f"no node named {name!r} in this pass (named nodes: {', '.join(known) or 'none'})")

    def __repr__(self) -> str:
        g = self.graph.graph
        where = f" at {g['call_site']}" if g.get("call_site") else ""
        return f"<Pass {self.index} {g.get('api', self.kind)}{where}: {self.graph.number_of_nodes()} nodes>"

    # -- serialisation -----------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The pass as plain data in the documented node-link format."""
        nodes = [{"id": n, **attrs} for n, attrs in self.graph.nodes(data=True)]
        edges = [{"source": u, "target": v, **attrs} for u, v, attrs in self.graph.edges(data=True)]
        return {
            "format": PASS_FORMAT,
            "version": FORMAT_VERSION,
            "graph": dict(self.graph.graph),
            "nodes": nodes,
            "edges": edges,
        }

    @classmethod
    def from_dict(cls, data: Any, *, validated: bool = False) -> Pass:
        """Build a pass from plain data, validated unless it already was; TraceFormatError when it is not one."""
        if not validated:
            validate_pass(data)
        graph = new_graph()  # NOTE [networkx on first use]
        graph.graph.update(data["graph"])
        for node in data["nodes"]:
            attrs = dict(node)
            graph.add_node(attrs.pop("id"), **attrs)
        for edge in data["edges"]:
            attrs = dict(edge)
            graph.add_edge(attrs.pop("source"), attrs.pop("target"), **attrs)
        return cls(graph)

    def to_json(self) -> str:
        return _dumps(self.to_dict())

    # -- rendering: graphtrace.render's functions (the model's one way out, no torch) ---
    def to_dot(self, **options: Any) -> str:
        return render.to_dot(self.graph, **options)

    def to_svg(self, **options: Any) -> str:
        return render.to_svg(self.graph, **options)

    def to_html(self, **options: Any) -> str:
        return render.to_html(self.graph, **options)

    def save(self, path: str | os.PathLike[str], **options: Any) -> Path:
        """Write the pass in the format named by the file's suffix; returns the path."""
        path = Path(path)
        fmt = path.suffix.lstrip(".").lower()
        if fmt not in SAVE_FORMATS:
            raise GraphtraceError(
                f"cannot save a pass as {path.name!r}: use one of " + ", ".join("." + f for f in SAVE_FORMATS)
            )
        if fmt == "json":
            data: str | bytes = self.to_json()
        elif fmt == "graphml":
            data = _graphml(self.graph)
        else:  # the very file ``graphtrace run`` writes for this pass
            ((_, data),) = render.draw(self.graph, [fmt], **options)
        write_file(path, data)
        return path

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        return render.pass_bundle(self.graph, repr(self))  # SVG, or one line saying why it cannot be drawn


class Trace:
    """The passes recorded by one ``graphtrace.trace()`` block, in the order they ran.

    ``count``: the passes recorded, kept in ``passes`` or not (``trace(keep=...)``), and those
    only counted (``trace(count_only=...)``).
    ``not_drawn``: passes that ran but could not be recorded, counted by reason
    (``{"inside torch.func transforms": 2}``).
    """

    def __init__(self, passes: list[Pass] | None = None) -> None:
        self.passes: list[Pass] = list(passes or [])
        self.count = len(self.passes)
        self.not_drawn: dict[str, int] = {}

    def __iter__(self) -> Iterator[Pass]:
        return iter(self.passes)

    def __len__(self) -> int:
        return len(self.passes)

    def __getitem__(self, i: int) -> Pass:
        return self.passes[i]

    def __repr__(self) -> str:
        return f"<Trace: {len(self.passes)} pass{'es' if len(self.passes) != 1 else ''}>"

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": TRACE_FORMAT,
            "version": FORMAT_VERSION,
            "passes": [p.to_dict() for p in self.passes],
        }

    def to_json(self) -> str:
        return _dumps(self.to_dict())

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the whole trace as one JSON file."""
        path = Path(path)
        write_file(path, self.to_json())
        return path

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        return render.trace_bundle(self.passes, repr(self))


def load(source: str | os.PathLike[str]) -> Trace:
    """Load a trace or pass JSON file (a path), validating it; never unpickles anything.

    Only regular files are read, and at most MAX_FILE_BYTES of them (counted while reading).
    """
    path = Path(source)
    try:
        raw = read_bytes(path, MAX_FILE_BYTES)
    except FileNotFoundError:
        raise TraceFormatError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise TraceFormatError(f"{path} is a folder, not a trace JSON file") from None
    except OSError as exc:
        if exc.errno == errno.EFBIG:
            raise TraceFormatError(f"{path} is {exc.strerror}, more than a trace file may be") from None
        if exc.errno == errno.EINVAL:
            raise TraceFormatError(f"{path} is not a regular file (a device, pipe or socket)") from None
        raise TraceFormatError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise TraceFormatError(f"{path} is not a JSON text file (it is not UTF-8)") from None
    return loads(text, origin=str(path))


def loads(text: str, origin: str = "<string>") -> Trace:
    """Parse trace or pass JSON text into a Trace, with one clear error when it is not one."""
    try:
        data = _parse(text)
    except RecursionError:
        raise TraceFormatError(f"{origin} is nested too deeply to be a trace file") from None
    except ValueError as exc:
        raise TraceFormatError(f"{origin} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise TraceFormatError(f"{origin} is JSON but not a graphtrace trace (top level is not an object)")
    fmt = data.get("format")
    try:
        if fmt == PASS_FORMAT:
            return Trace([Pass.from_dict(data)])
        if fmt == TRACE_FORMAT:
            validate(data, "trace")
            return Trace([Pass.from_dict(p, validated=True) for p in data["passes"]])
    except RecursionError:
        raise TraceFormatError(f"{origin} is nested too deeply to be a trace file") from None
    except TraceFormatError as exc:
        raise TraceFormatError(f"{origin}: {exc}") from None
    raise TraceFormatError(
        f"{origin} is JSON but not a graphtrace trace (its 'format' is {fmt!r:.60}, "
        f"expected {TRACE_FORMAT!r} or {PASS_FORMAT!r})"
    )


def _finite(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise ValueError(f"{literal[:40]} is too large for a number (not finite)")
    return value


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def _graphml(graph: Graph) -> str:
    """GraphML text: scalars as they are, lists and dicts as JSON strings."""

    def flat(attrs: dict[str, Any]) -> dict[str, Any]:
        return {
            k: (json.dumps(v, sort_keys=True) if isinstance(v, (list, dict)) or v is None else v)
            for k, v in attrs.items()
        }

    g = new_graph()
    g.graph.update(flat(graph.graph))
    for n, attrs in graph.nodes(data=True):
        g.add_node(n, **flat(attrs))
    for u, v, attrs in graph.edges(data=True):
        g.add_edge(u, v, **flat(attrs))
    return "\n".join(first_use("networkx").generate_graphml(g)) + "\n"
