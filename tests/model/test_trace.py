"""The trace model: JSON round trips, loading without torch, GraphML, validation."""

from __future__ import annotations

import json
import subprocess
import sys

import networkx as nx
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
