"""DOT source of passes: the numbers, notation, colours, escaping, determinism, golden files, big graphs."""

from __future__ import annotations

import math
import re
import subprocess
import sys
from pathlib import Path

import networkx as nx
import pytest

from graphtrace.render import to_dot, views
from graphtrace.render._dot import dom_id
from graphtrace.render._labels import COLORS, esc
from graphtrace.render._steps import steps

from . import synthetic as S

GOLDEN = Path(__file__).parent / "golden"


def node_line(dot: str, n: object) -> str:
    return next(line for line in dot.splitlines() if line.startswith(f"  n{n} "))


def edge_line(dot: str, u: object, v: object) -> str:
    return next(line for line in dot.splitlines() if line.startswith(f"  n{u} -> n{v} "))


def _flat(rec):
    v = rec["values"]
    out = [x for item in v for x in _flat({"values": item})] if isinstance(v, list) else [v]
    return [float(x) for x in out]  # "nan", "inf" as floats


def _same(a, b):
    return len(a) == len(b) and all(
        x == y or (math.isnan(x) and math.isnan(y)) or abs(x - y) <= 1e-6 * abs(y) for x, y in zip(a, b)
    )


@pytest.mark.parametrize("build", [*S.GOLDEN.values(), S.grad_call], ids=[*S.GOLDEN, "grad_call"])
def test_fixtures_are_consistent_programs(build):
    """Every number follows from the others as autograd would make them: edge grad = grad in × local
    (or grad in @ J), a node's grad in is the sum of its in-edges, .grad after = before + increment."""
    g = build()
    assert g.graph["steps"] == max(a["step"] for _, a in g.nodes(data=True) if a["step"] is not None)
    for _, a in g.nodes(data=True):  # a gradient has the shape of what it is the gradient of
        assert all(r["shape"] == a["shape"] for r in [*a["grad_in"], a.get("grad_after"), a.get("returned_grad")] if r)
    for u, v, e in g.edges(data=True):
        assert e["grad"] is None or e["grad"]["shape"] == g.nodes[v]["shape"], (u, v)
        src = g.nodes[u]["grad_in"][0]
        if e["grad"] is None or src is None:
            continue
        if e["local"] is not None:
            assert _same(_flat(e["grad"]), [x * y for x, y in zip(_flat(src), _flat(e["local"]))]), (u, v)
        if e["jacobian"] is not None:
            want = [sum(x * row[j] for x, row in zip(_flat(src), e["jacobian"])) for j in range(len(e["jacobian"][0]))]
            assert _same(_flat(e["grad"]), want), (u, v)
    for v, a in g.nodes(data=True):
        ins = [e["grad"] for _, _, e in g.in_edges(v, data=True) if e["grad"] is not None]
        target = a.get("returned_grad") or a["grad_in"][0]
        if a["kind"] == "root" or not ins or target is None:
            continue
        assert _same([sum(col) for col in zip(*map(_flat, ins))], _flat(target)), v
        if a["kind"] == "leaf" and g.graph["kind"] == "grad":
            assert a["grad_after"] is None and _same(_flat(a["grad_in"][0]), _flat(a["returned_grad"]))
        elif a["kind"] == "leaf" and a["step"] is not None:
            before = _flat(a["grad_before"]) if a["grad_before"] else [0.0] * len(_flat(target))
            assert _same([b + i for b, i in zip(before, _flat(target))], _flat(a["grad_after"])), v


def test_chain_rule_numbers():
    dot = to_dot(S.chain())
    assert "z (output)" in node_line(dot, 0) and "value 0.98936" in node_line(dot, 0)  # sin(347)
    assert "value 347<" in node_line(dot, 2) and "value 343<" in node_line(dot, 3)
    assert "seed grad 1" in node_line(dot, 0)
    assert "y = AddBackward0" in node_line(dot, 2) and "step 2" in node_line(dot, 2)
    assert "label=<0.14547<BR/>" in edge_line(dot, 1, 2) and "×0.14547" in edge_line(dot, 1, 2)
    assert "label=<21.384<BR/>" in edge_line(dot, 3, 4) and "×147<" in edge_line(dot, 3, 4)
    leaf = node_line(dot, 4)
    assert "is_leaf=True requires_grad=True" in leaf and "value 7" in leaf
    assert ".grad None + 21.384 = 21.384" in leaf
    assert 'id="node-4"' in leaf and 'id="edge-3-4"' in edge_line(dot, 3, 4)


def test_contributions_and_their_sum():
    dot = to_dot(S.multipath())
    assert "grad in 2 + 2 = 4" in node_line(dot, 4)
    assert ".grad None + 4 = 4" in node_line(dot, 4)
    assert "grad in" not in node_line(dot, 5)  # one contribution: no sum


def test_accumulation_matrices_and_retained_grad():
    dot = to_dot(S.accumulation())
    assert ".grad -9 + -4.5 = -13.5" in node_line(dot, 2)  # sum(G * M) = 0.5 - 0.5 + 0 - 4.5 per pass
    h = node_line(dot, 1)
    assert "[[&#160;&#160;&#160;1,&#160;&#160;&#160;&#160;2]," in h  # numpy-style, right-aligned
    assert "retained .grad" in h and "0.5,&#160;-0.25]," in h
    assert "pass 3 · Tensor.backward · examples/accumulate.py:12 · backward" in dot


def test_nan_red_zero_grey_legend():
    dot = to_dot(S.unhealthy())
    nan_edge, zero_edge = edge_line(dot, 2, 4), edge_line(dot, 3, 5)
    assert f'color="{COLORS["nan"]}"' in nan_edge and 'penwidth="2"' in nan_edge and "[nan, 0.25]" in nan_edge
    assert "×[inf, 0.25]" in nan_edge  # sqrt'(0) is inf; the NaN is the seed's 0 times it
    assert f'color="{COLORS["zero"]}"' in zero_edge and f'fontcolor="{COLORS["zero"]}"' in zero_edge
    assert f'color="{COLORS["nan"]}"' in node_line(dot, 4) and f'color="{COLORS["zero"]}"' in node_line(dot, 5)
    edge_defaults = next(line for line in dot.splitlines() if line.startswith("  edge ["))
    assert f'color="{COLORS["ok"]}"' in edge_defaults and "color=" not in edge_line(dot, 1, 2)  # NOTE [light DOT]
    for words in (
        "gradient flows from the output (top) to the leaves",
        "red: NaN/Inf",
        "grey: all-zero",
        "×local derivative",
        "gradient leaving a node = gradient arriving × local derivative",
        "op: a backward function",
        "leaf: .grad accumulates",
    ):
        assert words in dot


def test_legend_lists_only_the_marks_of_its_picture():
    chain, hostile = to_dot(S.chain()), to_dot(S.hostile())
    for absent in ("red: NaN/Inf", "grey: all-zero", "dashed: did not run", "grad in: contributions"):
        assert absent not in chain
    assert "dashed: did not run" in hostile and "dashed: did not run" not in to_dot(S.unhealthy())
    assert "grad in: contributions and their sum" in to_dot(S.multipath())
    assert 'BGCOLOR="#fff2cc"' in chain and "output: the seed" in chain  # node colours explained
    assert "group of nodes" not in chain and "edge label" not in to_dot(S.chain(), values=False)


def test_error_title_and_not_run_dashed():
    dot = to_dot(S.hostile())
    assert "error: RuntimeError: bad" in dot
    assert "dashed" in node_line(dot, 3) and "not run" in node_line(dot, 3)
    assert 'style="dashed"' in edge_line(dot, 1, 3)
    assert ".grad None + 3 = 3" in node_line(dot, 2)  # accumulated before the hook raised


def test_what_capture_did_not_record_is_said_under_the_title():
    g = S.chain()
    assert "only counted" not in to_dot(g)
    g.graph["capture_error"] = (
        "this pass's forward ran while passes were only counted: ops made then have no source line or module"
    )
    title = to_dot(g).split("<TR>")[2]  # the row after the pass's title
    assert title.startswith(
        '<TD ALIGN="LEFT"><FONT COLOR="#6b6b6b">this pass&#39;s forward ran while passes were only counted: ops made'
    )


def test_grad_pass_shows_the_returned_gradient():
    dot = to_dot(S.grad_call())
    leaf = node_line(dot, 4)
    assert "returned grad -1.3254" in leaf and ".grad untouched: None" in leaf  # -sin(2) + cos(2)
    assert "pass 1 · torch.autograd.grad · examples/seed002_grad_vs_backward.py:13 · grad" in dot


def test_every_label_is_escaped_text():
    dot = to_dot(S.hostile())
    labels = " ".join(re.findall(r"label=<(.*?)> ", dot))
    for raw in ("<img", "<script", "</script", "<b>", "<i>", "&amp;amp", '"q"'):
        assert raw not in labels.replace("&amp;amp;", "")  # the module name holds a literal '&amp;'
    assert "&lt;img src=x onerror=alert(1)&gt;" in dot
    assert "&lt;/script&gt;" in dot and "a&amp;b &quot;q&quot; \\\\N\\\\x00\\\\x0a" in dot
    assert "&#39;s.py:3" in dot  # the call site's quote
    assert "\x00" not in dot and "\n " not in dot.replace("\n  ", "")


def test_esc_writes_controls_as_visible_hex_and_specials_as_entities():
    controls = "".join(map(chr, range(0x20))) + "\x7f\x9f"
    expected = "".join(f"\\\\x{ord(c):02x}" for c in controls)  # NOTE [label escaping]: \xNN, backslash doubled
    assert esc(controls + "&<>\"'\\ é\xa0", 400) == expected + "&amp;&lt;&gt;&quot;&#39;\\\\ é\xa0"


def test_dom_ids_keep_only_ascii_letters_and_digits():
    assert dom_id(12) == "12" and dom_id("aB3") == "aB3"
    assert dom_id("g:h.<0>") == "g_3a_h_2e__3c_0_3e_"
    assert dom_id("x²") == "x_b2_" and dom_id("é") == "_e9_" and dom_id("") == ""  # letters, but not ASCII


def test_values_false_hides_numbers():
    dot = to_dot(S.chain(), values=False)
    assert "21.384" not in dot and "0.14547" not in dot and "PowBackward0" in dot


def test_clusters_draw_one_box_per_module_nested_as_the_modules():
    g = S.chain()
    for n, module in ((1, "block.0"), (2, "block.0"), (3, "block.1")):
        g.nodes[n].update(module=module, module_class="Block")
    g.graph["modules"] = {"block": "Stack"}
    dot = to_dot(g, clusters=True)
    assert dot.count("subgraph cluster_") == 3 and "block.0 (Block)" in dot
    outer = dot[dot.index("block (Stack)") :]
    assert outer.index("block.0 (Block)") < outer.index("block.1 (Block)") < outer.index("\n  }")  # both inside
    assert "subgraph" not in to_dot(g)


def test_group_nodes():
    g = S.chain()
    g.add_node(
        "g:h.<0>",
        kind="group",
        title="h.0 × 12 <Block>",
        lines=["34 ops", "grad in norm 1.5"],
        health="nan",
        members=34,
        repeat=12,
        table=[["h.0", "1.5"], ["h.11", "nan"]],
        step=5,
        grad_in=[],
        module="",
    )
    g.add_edge(4, "g:h.<0>", grad=S.rec(1.0))
    dot = to_dot(g)
    line = node_line(dot, "g_3a_h_2e__3c_0_3e_")
    assert 'shape="box3d"' in line and "×12 · 34 nodes" in line and "h.0 × 12 &lt;Block&gt;" in line
    assert f'color="{COLORS["nan"]}"' in line and '>h.11</FONT></TD><TD ALIGN="LEFT">nan<' in line
    assert 'id="edge-4-g_3a_h_2e__3c_0_3e_"' in dot


def test_same_graph_same_bytes():
    assert to_dot(S.hostile()) == to_dot(S.hostile())
    g = S.multipath()
    assert to_dot(g) == to_dot(nx.node_link_graph(nx.node_link_data(g, edges="edges"), edges="edges"))


@pytest.mark.parametrize("name", sorted(S.GOLDEN))
def test_golden_dot(name):
    dot = to_dot(S.GOLDEN[name]())
    want = (GOLDEN / f"{name}.dot").read_text(encoding="utf-8")
    assert dot == want, f"{name}.dot differs: check the change, then run python scripts/regen.py dot"


def test_golden_files_are_the_fixtures():
    assert sorted(p.stem for p in GOLDEN.glob("*.dot")) == sorted(S.GOLDEN)


def test_rendering_never_imports_torch():
    code = (
        "import sys; sys.path.insert(0, 'tests'); from graphtrace import render; "
        "from render import synthetic; render.to_dot(synthetic.hostile()); "
        "assert 'torch' not in sys.modules, 'torch was imported'"
    )
    root = Path(__file__).parents[2]
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root)


def test_to_dot_draws_big_graphs_whole():  # its speed is measured in bench/, not asserted here
    dot = to_dot(S.long_chain(3330), budget=10**6)
    assert dot.count('[id="node-') == 3330 and 'nslimit1="0.5"' in dot and 'splines="line"' in dot and "xlabel=<" in dot


def test_what_nodes_and_edges_share_is_said_once():  # NOTE [light DOT]
    dot = to_dot(S.multipath())
    node_defaults = next(line for line in dot.splitlines() if line.startswith("  node ["))
    assert 'shape="box" style="filled,rounded" fillcolor="#eef3fb" class="gt-op"' in node_defaults
    ops = [line for line in dot.splitlines() if line.startswith("  n") and "Backward" in line and "->" not in line]
    assert ops and not any("shape=" in line or 'class="gt-op"' in line or "fillcolor=" in line for line in ops)
    leaf = next(line for line in dot.splitlines() if 'class="gt-leaf"' in line)
    assert 'fillcolor="#e2f0d9"' in leaf and "shape=" not in leaf  # only what differs from an op


def test_an_edge_standing_for_several_says_its_gradient_is_their_largest():
    """NOTE [representative gradient]: a view edge for 3 edges shows the largest of the 3 and says
    so, in its label and its tooltip; an edge standing for one says nothing of the kind."""
    g = nx.DiGraph()
    g.graph["roots"] = [0]
    g.add_node(0, kind="root", op="output")
    for n, mod in ((1, "a"), (2, "a"), (3, "b"), (4, "b"), (5, "b")):
        g.add_node(n, kind="op", op="X", module=mod, module_class="M", source="f.py:1")

    def grad(norm: float) -> dict:
        vals = [norm, 0.0]
        return {"shape": [2], "dtype": "float32", "numel": 2, "values": vals, "norm": norm, "min": 0.0, "max": norm}

    g.add_edge(0, 1, slots=[0], grad=grad(1.0))
    g.add_edge(1, 2, slots=[0], grad=grad(1.0))
    g.add_edge(1, 3, slots=[0], grad=grad(2.0))
    g.add_edge(2, 4, slots=[0], grad=grad(7.5))
    g.add_edge(2, 5, slots=[1], grad=grad(5.0))
    dot = to_dot(g, depth=1)
    merged = next(line for line in dot.splitlines() if line.startswith(f"  n{dom_id('g:a')} -> n{dom_id('g:b')} "))
    assert "(largest of 3 edges)" in merged and "7.5" in merged and "5.0" not in merged
    assert 'tooltip="gradient (largest of 3 edges):' in merged
    single = next(line for line in dot.splitlines() if line.startswith(f"  n0 -> n{dom_id('g:a')} "))
    assert "largest" not in single and 'tooltip="gradient:' in single


def test_gradients_meeting_through_a_bundle_are_not_drawn_as_a_sum_of_the_largest():
    """Node 6 gets 3 gradients, 2 of them by one drawn edge: its label gives the sum and the
    count, not "a + b = total" of the drawn largest (7.5 + 1 is not 9.5); the step panel lists the
    bundle as the largest of 2 and no sum."""
    g = nx.DiGraph()
    g.graph["roots"] = [0]
    g.add_node(0, kind="root", op="output")

    def grad(x: float) -> dict:
        return {"shape": [1], "dtype": "float32", "numel": 1, "values": [x], "norm": abs(x), "min": x, "max": x}

    for n in (1, 2):
        g.add_node(n, kind="op", op="X", module="a", module_class="M", source="f.py:1", step=n)
    g.add_node(6, kind="op", op="AddBackward0", source="f.py:2", step=3, grad_in=[grad(10.5)])
    g.add_edge(0, 1, slots=[0], grad=grad(1.0))
    g.add_edge(0, 2, slots=[0], grad=grad(1.0))
    g.add_edge(0, 6, slots=[0], grad=grad(1.0))
    g.add_edge(1, 6, slots=[0], grad=grad(7.5))
    g.add_edge(2, 6, slots=[0], grad=grad(2.0))
    v = views.apply(g, depth=1)
    assert v.edges["g:a", 6]["merged"] == 2
    dot = to_dot(g, depth=1)
    label = node_line(dot, 6)
    assert "grad in, the sum over 3 edges" in label and "10.5" in label
    assert "9.5" not in label and "+" not in label
    (step,) = [s for s in steps(v) if s["node"] == f"node-{dom_id(6)}"]
    assert step["sum"] == ""
    assert sorted(a["grad"] for a in step["in"]) == ["(largest of 2 edges) [7.5]", "[1]"]


def test_gradients_into_different_outputs_are_summed_output_by_output():
    """NOTE [slots to several outputs]: with a, b = x.unbind() and w = (a + 3b) + a*b at x = [1, 2],
    UnbindBackward0's output 0 gets 1 + 2 = 3 and output 1 gets 1 + 3 = 4; the a*b edge shows its
    two gradients by output, never "2 + 1 = 3", and the node never "1 + 3 + 3 = 3"."""
    import torch

    import graphtrace

    x = torch.tensor([1.0, 2.0], requires_grad=True)
    with graphtrace.trace() as t:
        a, b = x.unbind()
        w = (a + 3 * b) + a * b
        w.backward()
    g = t.passes[0].graph
    (unbind,) = [n for n, d in g.nodes(data=True) if d["op"] == "UnbindBackward0"]
    (mul,) = [u for u in g.predecessors(unbind) if len(g.edges[u, unbind]["slots"]) == 2]
    dot = to_dot(g)
    label = node_line(dot, unbind)
    assert "grad in, output 0: 1 + 2 = 3" in label and "grad in, output 1: 1 + 3 = 4" in label
    assert "output 0 of 2" in label and "1 + 3 + 3" not in label
    edge = edge_line(dot, mul, unbind)
    assert "to output 0: 2" in edge and "to output 1: 1" in edge and "2 + 1" not in edge
    assert "style=dashed" not in edge and "×" not in edge
    assert 'tooltip="gradient to output 0: 2' in edge and "gradient to output 1: 1" in dot  # its tooltip
    (step,) = [s for s in steps(g) if s["node"] == f"node-{dom_id(unbind)}"]
    assert step["sum"] == "output 0:\n1 + 2 = 3\noutput 1:\n1 + 3 = 4"
    assert sorted(a["grad"] for a in step["in"]) == [
        "to output 0: 1",
        "to output 0: 2\nto output 1: 1",
        "to output 1: 3",
    ]
