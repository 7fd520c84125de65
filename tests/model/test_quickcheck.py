"""The quick check never accepts what jsonschema rejects, and accepts the files graphtrace writes."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import torch

import graphtrace
from graphtrace.model import schema
from graphtrace.model.quickcheck import compile_schema

ROOT = Path(__file__).resolve().parents[2]


def _pass_data() -> dict[str, Any]:
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    w = torch.nn.Linear(2, 2)
    with graphtrace.trace() as t:
        (w(x).sin() * x).sum().backward()
    data: dict[str, Any] = json.loads(t.passes[0].to_json())
    return data


def _both(kind: str) -> tuple[Any, jsonschema.Draft202012Validator]:
    check = schema._quick(kind)
    assert check is not None, "the shipped schema must compile to a quick check, or every load is slow"
    return check, jsonschema.Draft202012Validator(schema._sub(kind))


def test_the_files_graphtrace_writes_pass_the_quick_check() -> None:
    check, _ = _both("pass")
    trace_check, _ = _both("trace")
    data = _pass_data()
    assert check(data) and trace_check({"format": "graphtrace-trace", "version": 1, "passes": [data, data]})
    for path in sorted((ROOT / "outputs").glob("*/pass-*.json")):
        assert check(json.loads(path.read_text())), path


WRONG: list[Any] = ["many", "nan", "", -1, 0, 2, 2.0, -0.5, 1e300, True, False, None, [], [[1]], ["a"], [-1], {}]
WRONG += [{"shape": "x"}, {"shape": [2]}, {"shape": [2], "norm": "inf"}, {"shape": [2], "norm": "big"}, (1, 2)]
WRONG += [{"a": (1,)}, "root", "group", "graphtrace-pass", 1]


def _places(data: Any, at: str) -> list[tuple[str, Any, Any]]:
    """Every (where, container, key) of a value, down through its dicts and lists (lists: first and last item)."""
    out: list[tuple[str, Any, Any]] = []
    if isinstance(data, dict):
        for k, v in data.items():
            out += [(f"{at}.{k}", data, k), *(_places(v, f"{at}.{k}") if k not in ("values", "jacobian") else [])]
    elif isinstance(data, list) and data:
        for i in sorted({0, len(data) - 1}):
            out += [(f"{at}[{i}]", data, i), *_places(data[i], f"{at}[{i}]")]
    return out


def _singles(data: dict[str, Any]) -> list[tuple[dict[str, Any], list[tuple[str, Any, Any]]]]:
    """The pass cut to one node of each kind, and to its first and last edges (the schema checks each apart)."""
    out = [(single := {**copy.deepcopy(data), "nodes": [], "edges": []}, _places(single, ""))]
    kinds = {n["kind"]: i for i, n in reversed(list(enumerate(data["nodes"])))}  # the first node of each kind
    for part, picked in (("nodes", sorted(kinds.values())), ("edges", [0, len(data["edges"]) - 1])):
        for i in picked:
            item = data[part][i]
            single = {**data, "nodes": [], "edges": [], part: [copy.deepcopy(item)]}
            out.append((single, _places(single[part], f".{part}[{i}]")))
    return out


def test_the_quick_check_never_accepts_what_jsonschema_rejects() -> None:
    """Every place of a real pass set to each wrong value: accepted by the quick check only if jsonschema accepts it."""
    check, validator = _both("pass")
    singles = _singles(_pass_data())
    assert sum(len(places) for _, places in singles) > 200  # nodes, edges, their records and fields
    unsound, accepted = [], 0
    for data, places in singles:
        for where, container, key in places:
            kept = container[key]
            for wrong in WRONG:
                container[key] = copy.deepcopy(wrong)
                if check(data):  # what it refuses goes to jsonschema anyway
                    accepted += 1
                    if not validator.is_valid(data):
                        unsound.append(f"{where} = {wrong!r}")
            container[key] = kept
    assert not unsound, unsound[:20]
    assert accepted > 500  # and the test did reach places where a wrong value is still valid


SMALL = [  # (schema, value, quick, jsonschema): where the two meet the edges of JSON Schema's types
    ({"type": "integer"}, 2, True, True),
    ({"type": "integer"}, True, False, False),
    ({"type": "integer"}, 2.0, False, True),  # left to jsonschema
    ({"type": "number"}, False, False, False),
    ({"type": ["string", "null"]}, None, True, True),
    ({"const": 1}, True, False, False),
    ({"const": 1}, 1, True, True),
    ({"enum": ["op", "leaf"]}, "op", True, True),
    ({"enum": ["op", "leaf"]}, "root", False, False),
    ({"minimum": 0}, "text", True, True),
    ({"minimum": 0}, -1, False, False),
    ({"pattern": "^(nan|inf)$", "type": ["number", "string"]}, 3.5, True, True),
    ({"pattern": "^(nan|inf)$", "type": ["number", "string"]}, "nans", False, False),
    ({"maxItems": 1, "items": {"type": "integer"}}, [1], True, True),
    ({"maxItems": 1, "items": {"type": "integer"}}, [1, 2], False, False),
    ({"required": ["a"], "properties": {"a": {"type": "string"}}}, {"a": "x", "b": 1}, True, True),
    ({"required": ["a"], "properties": {"a": {"type": "string"}}}, {"b": 1}, False, False),
    ({"additionalProperties": {"type": "string"}}, {"a": 1}, False, False),
    ({"properties": {"a": {"type": "string"}}}, [1], True, True),  # properties: objects only
    ({"anyOf": [{"type": "null"}, {"type": "array"}]}, (), False, False),
    ({"type": "array"}, (), False, False),
    ({"$defs": {"r": {"type": "object"}}, "type": ["object", "null"], "$ref": "#/$defs/r"}, None, False, False),
    ({"$defs": {"r": {"type": "object"}}, "type": ["object", "null"], "$ref": "#/$defs/r"}, {}, True, True),
]


@pytest.mark.parametrize("case", range(len(SMALL)))
def test_the_quick_check_reads_each_keyword_as_jsonschema_does(case: int) -> None:
    sch, value, quick, valid = SMALL[case]
    check = compile_schema(sch)
    assert check is not None
    assert (check(value), jsonschema.Draft202012Validator(sch).is_valid(value)) == (quick, valid)


@pytest.mark.parametrize(
    "sch",
    [
        {"minItems": 1},
        {"oneOf": [{"type": "null"}]},
        {"format": "date"},
        {"$ref": "https://example.com/s.json"},
        {"$defs": {"a": {"items": {"$ref": "#/$defs/a"}}}, "$ref": "#/$defs/a"},
        {"const": [1]},
        {"properties": {"a": False}},
    ],
)
def test_a_schema_it_cannot_read_as_jsonschema_does_makes_no_quick_check(sch: dict[str, Any]) -> None:
    assert compile_schema(sch) is None


def test_a_file_the_quick_check_refuses_gets_jsonschemas_message() -> None:
    data = _pass_data()
    data["nodes"][0]["shape"] = ["a"]
    check, _ = _both("pass")
    assert not check(data)
    with pytest.raises(graphtrace.TraceFormatError, match=r"^nodes\[0\]\.shape\[0\]: 'a' is not of type 'integer'$"):
        schema.validate_pass(data)
    data["nodes"][0]["shape"] = [2.0]  # refused by the quick check, valid to jsonschema: loads
    assert not check(data)
    schema.validate_pass(data)
