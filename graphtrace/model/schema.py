"""Validation of pass data loaded from JSON, so bad files fail with one clear message."""

from __future__ import annotations

from typing import Any

from .._errors import TraceFormatError

FORMAT_VERSION = 1  # of pass and trace files
_KINDS = {"root", "op", "leaf", "group"}
_STR_NODE_ATTRS = ("op", "name", "param", "source", "module", "module_class", "dtype", "device", "code",
                   "backward_source")
_RECORD_NODE_ATTRS = ("value", "retained_grad", "grad_before", "grad_after", "returned_grad")
_MAX_NODES = 2_000_000


def _fail(msg: str) -> None:
    raise TraceFormatError(msg)


def _check_record(rec: Any, where: str) -> None:
    """A value record is null or an object with a shape list of ints."""
    if rec is None:
        return
    if not isinstance(rec, dict):
        _fail(f"{where} must be a value record (an object) or null, not {type(rec).__name__}")
    shape = rec.get("shape")
    if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) for d in shape):
        _fail(f"{where} has no valid 'shape' (a list of ints)")
    for key in ("norm", "min", "max", "mean"):
        if key in rec and not isinstance(rec[key], (int, float, str, type(None))):
            _fail(f"{where}.{key} must be a number")


def _check_id(value: Any, where: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        _fail(f"{where} must be an integer node id, not {value!r:.40}")


def validate_pass(data: Any) -> None:
    """Raise TraceFormatError unless ``data`` is a pass in the documented format."""
    if not isinstance(data, dict):
        _fail("a pass must be a JSON object")
    if data.get("version") != FORMAT_VERSION:
        _fail(f"unsupported pass format version {data.get('version')!r}")
    graph, nodes, edges = data.get("graph"), data.get("nodes"), data.get("edges")
    if not isinstance(graph, dict):
        _fail("a pass needs a 'graph' object")
    if not isinstance(nodes, list) or not isinstance(edges, list):
        _fail("a pass needs 'nodes' and 'edges' lists")
    if len(nodes) > _MAX_NODES:
        _fail(f"a pass with {len(nodes)} nodes is more than graphtrace loads")
    for key in ("index", "steps"):
        if key in graph and (not isinstance(graph[key], int) or isinstance(graph[key], bool)):
            _fail(f"graph.{key} must be an integer")
    for key in ("kind", "api", "call_site", "error"):
        if key in graph and not isinstance(graph[key], str):
            _fail(f"graph.{key} must be a string")
    ids = set()
    for i, node in enumerate(nodes):
        where = f"nodes[{i}]"
        if not isinstance(node, dict):
            _fail(f"{where} must be an object")
        _check_id(node.get("id"), f"{where}.id")
        if node["id"] in ids:
            _fail(f"{where}.id {node['id']} appears twice")
        ids.add(node["id"])
        if node.get("kind") not in _KINDS:
            _fail(f"{where}.kind must be one of {sorted(_KINDS)}, not {node.get('kind')!r:.40}")
        for key in _STR_NODE_ATTRS:
            if node.get(key) is not None and not isinstance(node[key], str):
                _fail(f"{where}.{key} must be a string")
        for key in _RECORD_NODE_ATTRS:
            _check_record(node.get(key), f"{where}.{key}")
        saved = node.get("saved") or {}
        if not isinstance(saved, dict):
            _fail(f"{where}.saved must be an object")
        for name, rec in saved.items():
            _check_record(rec, f"{where}.saved.{name}")
        grad_in = node.get("grad_in", [])
        if not isinstance(grad_in, list):
            _fail(f"{where}.grad_in must be a list")
        for j, rec in enumerate(grad_in):
            _check_record(rec, f"{where}.grad_in[{j}]")
        step = node.get("step")
        if step is not None and (not isinstance(step, int) or isinstance(step, bool)):
            _fail(f"{where}.step must be an integer or null")
        shape = node.get("shape")
        if shape is not None and (not isinstance(shape, list) or not all(isinstance(d, int) for d in shape)):
            _fail(f"{where}.shape must be a list of ints or null")
    for i, edge in enumerate(edges):
        where = f"edges[{i}]"
        if not isinstance(edge, dict):
            _fail(f"{where} must be an object")
        for end in ("source", "target"):
            _check_id(edge.get(end), f"{where}.{end}")
            if edge[end] not in ids:
                _fail(f"{where}.{end} names node {edge[end]}, which is not in the pass")
        _check_record(edge.get("grad"), f"{where}.grad")
        _check_record(edge.get("local"), f"{where}.local")
        for j, rec in enumerate(edge.get("parts") or []):
            _check_record(rec, f"{where}.parts[{j}]")
        jac = edge.get("jacobian")
        if jac is not None and (not isinstance(jac, list) or not all(isinstance(r, list) for r in jac)):
            _fail(f"{where}.jacobian must be a list of rows or null")
