"""DOT source of passes: the numbers, notation, colours, escaping, determinism, golden files, speed."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import networkx as nx
import pytest

from graphtrace.render import to_dot
from graphtrace.render._labels import COLORS

from . import synthetic as S

GOLDEN = Path(__file__).parent / "golden"
PASSES = {"chain": S.chain, "multipath": S.multipath, "accumulation": S.accumulation,
          "unhealthy": S.unhealthy, "hostile": S.hostile}


def node_line(dot: str, n: object) -> str:
    return next(line for line in dot.splitlines() if line.startswith(f"  n{n} "))


def edge_line(dot: str, u: object, v: object) -> str:
    return next(line for line in dot.splitlines() if line.startswith(f"  n{u} -> n{v} "))


def test_chain_rule_numbers():
    dot = to_dot(S.chain())
    assert "z (output)" in node_line(dot, 0) and "value -0.98886" in node_line(dot, 0)
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
    assert ".grad -2.6509 + -1.3254 = -3.9763" in node_line(dot, 2)
    h = node_line(dot, 1)
    assert "[[&#160;&#160;&#160;1,&#160;&#160;&#160;&#160;2]," in h  # numpy-style, right-aligned
    assert "retained .grad" in h and "0.5,&#160;-0.25]," in h
    assert "pass 3 · Tensor.backward · examples/accumulate.py:12 · backward" in dot


def test_nan_red_zero_grey_legend():
    dot = to_dot(S.unhealthy())
    nan_edge, zero_edge = edge_line(dot, 2, 4), edge_line(dot, 3, 5)
    assert f'color="{COLORS["nan"]}"' in nan_edge and 'penwidth="2"' in nan_edge and "[nan, 0.25]" in nan_edge
    assert f'color="{COLORS["zero"]}"' in zero_edge and f'fontcolor="{COLORS["zero"]}"' in zero_edge
    assert f'color="{COLORS["nan"]}"' in node_line(dot, 4) and f'color="{COLORS["zero"]}"' in node_line(dot, 5)
    assert f'color="{COLORS["ok"]}"' in edge_line(dot, 1, 2)
    for words in ("gradient flows from the output (top) to the leaves", "red: NaN/Inf", "grey: all-zero",
                  "dashed: did not run", "×local derivative", ".grad before + increment = after"):
        assert words in dot


def test_error_title_not_run_dashed_and_grad_pass():
    dot = to_dot(S.hostile())
    assert "error: RuntimeError: bad" in dot
    assert "dashed" in node_line(dot, 3) and "not run" in node_line(dot, 3)
    assert 'style="dashed"' in edge_line(dot, 1, 3)
    leaf = node_line(dot, 2)
    assert "returned grad 3" in leaf and ".grad untouched: None" in leaf


def test_every_label_is_escaped_text():
    dot = to_dot(S.hostile())
    labels = " ".join(re.findall(r"label=<(.*?)> ", dot))
    for raw in ("<img", "<script", "</script", "<b>", "<i>", "&amp;amp", '"q"'):
        assert raw not in labels.replace("&amp;amp;", "")  # the module name holds a literal '&amp;'
    assert "&lt;img src=x onerror=alert(1)&gt;" in dot
    assert "&lt;/script&gt;" in dot and "a&amp;b &quot;q&quot; \\\\N\\\\x00\\\\x0a" in dot
    assert "&#39;s.py:3" in dot  # the call site's quote
    assert "\x00" not in dot and "\n " not in dot.replace("\n  ", "")


def test_values_false_hides_numbers():
    dot = to_dot(S.chain(), values=False)
    assert "21.384" not in dot and "0.14547" not in dot and "PowBackward0" in dot


def test_clusters_draw_one_box_per_module():
    g = S.chain()
    for n, module in ((1, "block.0"), (2, "block.0"), (3, "block.1")):
        g.nodes[n].update(module=module, module_class="Block")
    dot = to_dot(g, clusters=True)
    assert dot.count("subgraph cluster_") == 2 and "block.0 (Block)" in dot
    assert "subgraph" not in to_dot(g)


def test_group_nodes():
    g = S.chain()
    g.add_node("g:h.<0>", kind="group", title="h.0 × 12 <Block>", lines=["34 ops", "grad in norm 1.5"],
               health="nan", members=34, repeat=12, table=[["h.0", "1.5"], ["h.11", "nan"]], step=5,
               grad_in=[], module="")
    g.add_edge(4, "g:h.<0>", grad=S.rec(1.0))
    dot = to_dot(g)
    line = node_line(dot, "g_3a_h_2e__3c_0_3e_")
    assert 'shape="box3d"' in line and "×12 · 34 nodes" in line and "h.0 × 12 &lt;Block&gt;" in line
    assert f'color="{COLORS["nan"]}"' in line and ">h.11</FONT></TD><TD ALIGN=\"LEFT\">nan<" in line
    assert 'id="edge-4-g_3a_h_2e__3c_0_3e_"' in dot


def test_same_graph_same_bytes():
    assert to_dot(S.hostile()) == to_dot(S.hostile())
    g = S.multipath()
    assert to_dot(g) == to_dot(nx.node_link_graph(nx.node_link_data(g, edges="edges"), edges="edges"))


@pytest.mark.parametrize("name", sorted(PASSES))
def test_golden_dot(name, regen_golden):
    path = GOLDEN / f"{name}.dot"
    dot = to_dot(PASSES[name]())
    if regen_golden:
        path.parent.mkdir(exist_ok=True)
        path.write_text(dot, encoding="utf-8")
    assert dot == path.read_text(encoding="utf-8"), f"run pytest --regen-golden after checking {name}.dot"


def test_rendering_never_imports_torch():
    code = ("import sys; sys.path.insert(0, 'tests'); from graphtrace import render; "
            "from render import synthetic; render.to_dot(synthetic.hostile()); "
            "assert 'torch' not in sys.modules, 'torch was imported'")
    root = Path(__file__).parents[2]
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root)


def test_to_dot_is_quick_on_big_graphs():
    g = S.long_chain(3330)
    start = time.perf_counter()
    dot = to_dot(g, budget=10**6)
    assert time.perf_counter() - start < 0.5
    assert dot.count('[id="node-') == 3330 and 'nslimit1="0.5"' in dot and 'splines="line"' in dot and "xlabel=<" in dot
