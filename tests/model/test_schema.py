"""The published JSON Schema of trace files: one source, a valid schema, and no gaps a renderer falls into."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import jsonschema
import pytest
import tomllib
import torch

import graphtrace
from graphtrace import TraceFormatError, render
from graphtrace.cli.index import Entry
from graphtrace.model import schema

ROOT = Path(__file__).resolve().parents[2]


def _pass_data() -> dict:
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    with graphtrace.trace() as t:
        (x.sin() * x).sum().backward()
    data: dict = json.loads(t.passes[0].to_json())
    return data


def test_the_docs_copy_is_the_shipped_schema() -> None:
    docs = (ROOT / "docs" / "trace.schema.json").read_text()
    shipped = (ROOT / "graphtrace" / "model" / schema.SCHEMA_FILE).read_text()
    assert docs == shipped and json.loads(docs) == schema.schema()
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert f"model/{schema.SCHEMA_FILE}" in package_data["graphtrace"]  # so an installed wheel validates too


def test_the_schema_is_a_valid_draft_2020_12_schema_that_accepts_real_files() -> None:
    jsonschema.Draft202012Validator.check_schema(schema.schema())
    data = _pass_data()
    jsonschema.validate(data, schema.schema())
    jsonschema.validate({"format": "graphtrace-trace", "version": 1, "passes": [data]}, schema.schema())
    for path in sorted((ROOT / "outputs").glob("*/pass-*.json")):
        jsonschema.validate(json.loads(path.read_text()), schema.schema())


def _leaf(data: dict) -> dict:
    return data["nodes"][_LEAF]


_LEAF = next(i for i, n in enumerate(_pass_data()["nodes"]) if n["kind"] == "leaf" and n["grad_in"][0])


GAPS = {  # each passed validation before and failed later, after an index claiming "1 written" was on disk
    "numel is a word": (lambda d: _leaf(d)["grad_in"][0].update(numel="many"), f"nodes[{_LEAF}].grad_in[0].numel"),
    "repeat of a group is a word": (lambda d: d["nodes"][1].update(kind="group", repeat="many"), "nodes[1].repeat"),
    "roots is a number": (lambda d: d["graph"].update(roots=5), "graph.roots: 5 is not of type 'array'"),
    "roots names no node": (lambda d: d["graph"].update(roots=[99]), "graph.roots[0]: names node 99"),
    "values nested deeper than the shape": (
        lambda d: _leaf(d)["grad_in"][0].update(values=[[1.0], [2.0]]),
        f"nodes[{_LEAF}].grad_in[0].values: not nested as its shape [2] says",
    ),
    "values an object": (lambda d: _leaf(d)["grad_after"].update(values={"a": 1}), f"nodes[{_LEAF}].grad_after.values"),
    "a shard's index a word": (  # NOTE [sharded parameters]
        lambda d: _leaf(d).update(
            shard={
                "index": "first",
                "count": 2,
                "dim": 0,
                "placements": ["Shard(dim=0)"],
                "local_shape": [1],
                "global_shape": [2],
                "accumulated": None,
            }
        ),
        f"nodes[{_LEAF}].shard.index",
    ),
}


@pytest.mark.parametrize("case", sorted(GAPS))
def test_gaps_of_the_hand_written_checks_fail_up_front(case: str) -> None:
    mutate, expected = GAPS[case]
    data = _pass_data()
    mutate(data)
    with pytest.raises(TraceFormatError) as caught:
        graphtrace.loads(json.dumps(data), origin="t.json")
    assert str(caught.value).startswith("t.json: ") and expected in str(caught.value), str(caught.value)


def test_a_number_too_large_for_a_double_is_refused() -> None:
    text = json.dumps(_pass_data()).replace('"norm": ', '"norm": 1e400, "x": ', 1)
    with pytest.raises(TraceFormatError, match="1e400 is too large for a number"):
        graphtrace.loads(text)


WRONG = ["many", -1, None, [[[1]]], {"shape": "x"}]


def _places(data: dict) -> list[tuple[str, dict, str]]:
    """Every (where, container, key) of a pass: graph attributes, node and edge attributes, record fields."""
    out = [("graph", data["graph"], k) for k in data["graph"]]
    kinds = {n["kind"]: i for i, n in reversed(list(enumerate(data["nodes"])))}  # the first node of each kind
    for part, picked in (("nodes", sorted(kinds.values())), ("edges", [0, len(data["edges"]) - 1])):
        for i in picked:
            item = data[part][i]
            for k, v in item.items():
                out.append((f"{part}[{i}]", item, k))
                if isinstance(v, dict):
                    out += [(f"{part}[{i}].{k}", v, f) for f in v]
                elif isinstance(v, list) and v and isinstance(v[0], dict):
                    out += [(f"{part}[{i}].{k}[0]", v[0], f) for f in v[0]]
    return out


@pytest.mark.slow
def test_every_file_either_loads_and_draws_or_fails_up_front() -> None:
    """Every attribute of a real pass set to each wrong value: a TraceFormatError, or it draws."""
    base = _pass_data()
    failures = []
    for index in range(len(_places(base))):
        for wrong in WRONG:
            data = copy.deepcopy(base)
            where, container, key = _places(data)[index]
            container[key] = copy.deepcopy(wrong)
            try:
                p = graphtrace.loads(json.dumps(data))[0]
            except TraceFormatError:
                continue
            try:
                render.to_dot(p.graph)
                render.to_dot(p.graph, depth=1)
                Entry.of(1, p.graph)
            except Exception as exc:  # the point: nothing but TraceFormatError, and that up front
                failures.append(f"{where}.{key} = {wrong!r}: {type(exc).__name__}: {exc}")
    assert not failures, "\n".join(failures[:20])
