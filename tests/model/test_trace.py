"""The trace model: JSON round trips, loading without torch, GraphML, validation."""

from __future__ import annotations

import collections
import json
import math
import struct
import subprocess
import sys

import networkx as nx
import numpy
import pytest
import torch

import graphtrace
from graphtrace import Pass, Trace, TraceFormatError


def _seed000_trace():
    x = torch.tensor(7.0, requires_grad=True)
    with graphtrace.trace() as t:
        z = torch.sin(x**3 + 4)
        z.backward()
    return t


def test_json_round_trip_is_lossless():
    t = _seed000_trace()
    text = t.to_json()
    loaded = graphtrace.loads(text)
    assert loaded.to_json() == text
    p = loaded[0]
    assert isinstance(p.graph, nx.DiGraph)
    assert p.node("x")["grad_after"]["values"] == pytest.approx(21.384121, abs=1e-5)
    assert nx.utils.graphs_equal(p.graph, t.passes[0].graph)


def test_pass_file_loads_as_a_one_pass_trace(tmp_path):
    p = _seed000_trace()[0]
    path = p.save(tmp_path / "pass.json")
    assert json.loads(path.read_text())["format"] == "graphtrace-pass"
    assert graphtrace.load(path)[0].to_json() == p.to_json()


def test_load_works_where_torch_cannot_be_imported(tmp_path):
    path = _seed000_trace().save(tmp_path / "trace.json")
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, *a):\n"
        "        if name == 'torch' or name.startswith('torch.'):\n"
        "            raise ImportError('torch is blocked')\n"
        "sys.meta_path.insert(0, Block())\n"
        "import graphtrace\n"
        f"t = graphtrace.load({str(path)!r})\n"
        "print(t[0].node('x')['grad_after']['values'], 'torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split()[0].startswith("21.384") and out.split()[1] == "False"


# NOTE [fast JSON] in model/trace.py: orjson writes, the standard library is the reference
_EXACT = [
    1e-05,
    5e-324,
    2.2250738585072014e-308,
    1e16,
    1.7976931348623157e308,
    -0.0,
    0.1,
    123456789.123,
    0.26940321922302246,
    -0.2849462628364563,
    1 / 3,
    2.0**-30,
]


def _pass_with(**graph_attrs) -> Pass:
    g = nx.DiGraph()
    g.graph.update(graph_attrs)
    g.add_node(0, kind="op", op="MulBackward0", name="é→∂", value={"shape": [12], "values": _EXACT})
    return Pass(g)


def test_json_numbers_read_back_to_the_same_doubles_and_text_stays_utf8():
    text = _pass_with(note="x < y & ∂z").to_json()
    data = json.loads(text)
    back = data["nodes"][0]["value"]["values"]
    assert [struct.pack("<d", x) for x in back] == [struct.pack("<d", x) for x in _EXACT]  # -0.0 too
    assert data == json.loads(json.dumps(_pass_with(note="x < y & ∂z").to_dict()))  # the stdlib's reading
    assert '"name":"é→∂"' in text and "\\u" not in text  # UTF-8 as it is, not \u escapes
    assert text.endswith("}\n") and text.index('"edges"') < text.index('"format"')  # sorted keys
    assert graphtrace.loads(text)[0].to_json() == text


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_json_refuses_a_number_that_is_not_finite_as_before(bad):
    p = _pass_with()
    p.graph.nodes[0]["value"]["values"][3] = bad  # orjson alone would write null here
    with pytest.raises(ValueError, match="Out of range float"):
        p.to_json()
    p.graph.nodes[0]["value"]["values"][3] = 1.0
    p.graph.graph["extra"] = collections.OrderedDict(mean=bad)  # a dict subclass: orjson writes those too
    with pytest.raises(ValueError, match="Out of range float"):
        p.to_json()


def test_json_of_what_orjson_refuses_is_written_by_the_standard_library():
    big = 2**80 + 1  # past 64 bits
    text = _pass_with(big=big, f64=numpy.float64(0.1), lone="\udc80").to_json()
    data = json.loads(text)
    assert data["graph"]["big"] == big and data["graph"]["f64"] == 0.1 and data["graph"]["lone"] == "\udc80"


def test_graphml_export_stores_lists_as_json_strings(tmp_path):
    p = _seed000_trace()[0]
    path = p.save(tmp_path / "pass.graphml")
    g = nx.read_graphml(path)
    assert g.number_of_nodes() == p.graph.number_of_nodes()
    leaf = next(a for _, a in g.nodes(data=True) if a["name"] == "x")
    assert json.loads(leaf["grad_after"])["values"] == pytest.approx(21.384121, abs=1e-5)


def test_node_lookup_names_the_known_names():
    p = _seed000_trace()[0]
    with pytest.raises(KeyError, match="named nodes: x, z"):
        p.node("nope")


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "not valid JSON"),
        ('{"format": "graphtrace-trace", "version": 1, "passes": [', "not valid JSON"),
        ("[1, 2]", "top level is not an object"),
        ('{"format": "other"}', "not a graphtrace trace"),
        ('{"format": "graphtrace-trace", "version": 1, "passes": {}}', "passes: {} is not of type 'array'"),
        (
            '{"format": "graphtrace-pass", "version": 1, "graph": {}, '
            '"nodes": [{"id": "a", "kind": "op"}], "edges": []}',
            "id: 'a' is not of type 'integer'",
        ),
        (
            '{"format": "graphtrace-pass", "version": 1, "graph": {}, "nodes": [{"id": 0, "kind": "op"}],'
            ' "edges": [{"source": 0, "target": 5}]}',
            "not in the pass",
        ),
        (
            '{"format": "graphtrace-pass", "version": 1, "graph": {}, "nodes": [{"id": 0, "kind": "op",'
            ' "value": {"shape": "big"}}], "edges": []}',
            "value.shape: 'big' is not of type 'array'",
        ),
        ("[" * 100000 + "]" * 100000, "nested too deeply"),
        (
            '{"format": "graphtrace-pass", "version": 1, "graph": {}, "nodes": [{"id": 0, "kind": "op",'
            ' "value": {"shape": [], "norm": NaN}}], "edges": []}',
            "not valid JSON",
        ),
    ],
)
def test_bad_trace_json_gives_one_clear_error(text, message):
    with pytest.raises(TraceFormatError, match=message):
        graphtrace.loads(text)


def test_load_of_a_binary_file_or_a_folder_is_a_clear_error(tmp_path):
    binary = tmp_path / "x.json"
    binary.write_bytes(b"\x80\x04\x95pickle\x00")
    with pytest.raises(TraceFormatError, match="not UTF-8"):
        graphtrace.load(binary)
    with pytest.raises(TraceFormatError, match="is a folder"):
        graphtrace.load(tmp_path)
    with pytest.raises(TraceFormatError, match="no such file"):
        graphtrace.load(tmp_path / "missing.json")


def test_save_refuses_an_unknown_suffix(tmp_path):
    p = Pass(nx.DiGraph())
    with pytest.raises(graphtrace.GraphtraceError, match=r"use one of \.svg"):
        p.save(tmp_path / "pass.bmp")


def test_empty_trace_says_so():
    assert "no backward pass" in Trace()._repr_mimebundle_()["text/plain"]


def test_trace_display_without_dot_is_one_line(monkeypatch):
    t = _seed000_trace()
    monkeypatch.setenv("PATH", "")
    bundle = t._repr_mimebundle_()
    assert list(bundle) == ["text/plain"] and "cannot draw the passes" in bundle["text/plain"]
    assert "apt-get install graphviz" in bundle["text/plain"]
