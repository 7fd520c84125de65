"""Validation of pass and trace JSON against the published JSON Schema, so bad files fail up front in one line.

NOTE [one schema]
The format is published as a JSON Schema (draft 2020-12) in ``graphtrace/model/trace.schema.json``,
shipped inside the package so validation works from an installed wheel; ``docs/trace.schema.json``
is the same file for readers and other languages (a test keeps the two identical). The
``jsonschema`` library checks it; the few rules JSON Schema cannot state (unique ids, edges and
roots naming nodes, values nested as their shape says) are checked here and listed in the
schema's ``x-also-checked``. A file either passes every check and then loads and draws, or fails
before anything is written, with one line naming the field.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from .._errors import TraceFormatError
from .quickcheck import Check, compile_schema

if TYPE_CHECKING:
    import jsonschema

FORMAT_VERSION = 1  # of pass and trace files
SCHEMA_FILE = "trace.schema.json"
_RECORDS = ("value", "retained_grad", "grad_before", "grad_after", "returned_grad")
_SHOWN = 160  # characters of a schema message kept (it quotes the offending value)


def schema() -> dict[str, Any]:
    """The JSON Schema of pass and trace files (NOTE [one schema])."""
    loaded: dict[str, Any] = json.loads(resources.files(__package__).joinpath(SCHEMA_FILE).read_text("utf-8"))
    return loaded


def _sub(kind: str) -> dict[str, Any]:
    """The schema of a ``kind`` ("pass" or "trace") alone."""
    full = schema()
    return {"$schema": full["$schema"], "$defs": full["$defs"], "$ref": f"#/$defs/{kind}"}


@cache
def _validator(kind: str) -> jsonschema.protocols.Validator:
    import jsonschema  # NOTE [lazy package] in graphtrace/__init__.py: only reading a file validates

    return jsonschema.Draft202012Validator(_sub(kind))


@cache
def _quick(kind: str) -> Check | None:
    return compile_schema(_sub(kind))


def validate(data: dict[str, Any], kind: str) -> None:
    """Raise TraceFormatError unless ``data`` is a ``kind`` ("pass" or "trace") in the documented format."""
    if data.get("version") != FORMAT_VERSION:
        raise TraceFormatError(f"unsupported {kind} format version {data.get('version')!r:.40}")
    quick = _quick(kind)
    if quick is None or not quick(data):  # NOTE [quick check]: jsonschema finds and words the error
        _schema_error(data, kind)
    for i, p in enumerate(data["passes"] if kind == "trace" else [data]):
        _check_pass(p, f"passes[{i}]." if kind == "trace" else "")


def _schema_error(data: dict[str, Any], kind: str) -> None:
    """Raise jsonschema's best error of ``data`` as a TraceFormatError, if it has one."""
    from jsonschema.exceptions import best_match

    error = best_match(_validator(kind).iter_errors(data))
    if error is not None:
        where = error.json_path.removeprefix("$.").removeprefix("$") or "the top level"
        message = _message(error)
        raise TraceFormatError(f"{where}: {message if len(message) <= _SHOWN else message[:_SHOWN] + '...'}")


def _message(error: jsonschema.ValidationError) -> str:
    """The schema's complaint; for a choice of types ("a record or null"), the types it may be."""
    if error.validator in ("anyOf", "oneOf") and error.context:
        here = [e for e in error.context if e.validator == "type" and not e.relative_path]
        kinds = [
            repr(k)
            for e in here
            for k in (e.validator_value if isinstance(e.validator_value, list) else [e.validator_value])
        ]
        if kinds:
            return f"{error.instance!r:.60} is not of type {' or '.join(dict.fromkeys(kinds))}"
        from jsonschema.exceptions import best_match

        return _message(best_match(error.context) or error)
    return error.message


def validate_pass(data: Any) -> None:
    """Raise TraceFormatError unless ``data`` is a pass in the documented format."""
    if not isinstance(data, dict):
        raise TraceFormatError("a pass must be a JSON object")
    validate(data, "pass")


def _check_pass(p: dict[str, Any], at: str) -> None:
    """What the schema cannot say: ids unique, references resolve, values as the shape says."""
    ids: set[int] = set()
    for i, node in enumerate(p["nodes"]):
        if node["id"] in ids:
            raise TraceFormatError(f"{at}nodes[{i}].id: {node['id']} appears twice")
        ids.add(node["id"])
        for key in _RECORDS:
            _check_values(node.get(key), f"{at}nodes[{i}].{key}")
        for j, rec in enumerate(node.get("grad_in") or []):
            _check_values(rec, f"{at}nodes[{i}].grad_in[{j}]")
        for name, rec in (node.get("saved") or {}).items():
            _check_values(rec, f"{at}nodes[{i}].saved.{name}")
    for key in ("roots", "inputs"):
        for j, n in enumerate(p["graph"].get(key) or []):
            if n not in ids:
                raise TraceFormatError(f"{at}graph.{key}[{j}]: names node {n}, which is not in the pass")
    for i, edge in enumerate(p["edges"]):
        for end in ("source", "target"):
            if edge[end] not in ids:
                raise TraceFormatError(f"{at}edges[{i}].{end}: names node {edge[end]}, which is not in the pass")
        for key in ("grad", "local"):
            _check_values(edge.get(key), f"{at}edges[{i}].{key}")
        for j, rec in enumerate(edge.get("parts") or []):
            _check_values(rec, f"{at}edges[{i}].parts[{j}]")
        for row in edge.get("jacobian") or []:
            if not all(isinstance(v, (int, float, str)) and not isinstance(v, bool) for v in row):
                raise TraceFormatError(f"{at}edges[{i}].jacobian: rows must hold numbers only")


def _check_values(rec: dict[str, Any] | None, where: str) -> None:
    if rec is None or rec.get("values") is None:
        return
    if not _fits(rec["values"], rec["shape"]):
        raise TraceFormatError(f"{where}.values: not nested as its shape {rec['shape']} says")


def _fits(values: Any, shape: list[int]) -> bool:
    if not shape:
        return isinstance(values, (int, float, str, bool))
    return isinstance(values, list) and len(values) == shape[0] and all(_fits(v, shape[1:]) for v in values)
