"""The auto view meets its node budget on shapes without deep module structure (views.py, views_structure.py)."""

from __future__ import annotations

import networkx as nx
import pytest

from graphtrace import render
from graphtrace.render import views
from graphtrace.render.views_build import MAX_FOLD_ROWS

from .test_views import Builder, chain_graph, groups

CLASSES = ("Linear", "PReLU", "LayerNorm", "BatchNorm", "GroupNorm")


def flat_sequential(layers: int, period: tuple[str, ...] = ("Linear", "ReLU"), weighted: bool = False) -> nx.DiGraph:
    """root -> sum -> modules "N-1" ... "0" of a flat nn.Sequential whose classes repeat ``period``."""
    b = Builder()
    root = b.add("output", kind="root")
    x = b.add("SumBackward0")
    b.edge(root, x)
    for i in reversed(range(layers)):
        cls, path, norm = period[i % len(period)], str(i), 0.5 ** (layers - i)
        if cls == "Linear":
            x = b.linear(x, path, norm)
        else:
            op = b.add(f"{cls}Backward0", path, cls, norm=norm)
            b.edge(x, op, norm)
            if weighted:  # a module of two nodes: its op and its parameter
                b.edge(op, b.add("AccumulateGrad", kind="leaf", param=path + ".weight", norm=norm), norm)
            x = op
    return b.g


def accounted(g: nx.DiGraph, v: nx.DiGraph) -> int:
    """Nodes of ``g`` the view stands for: its plain nodes plus every group's members."""
    return sum(a["members"] for a in groups(v).values()) + sum(1 for n in v if n in g)


def test_flat_sequential_folds_linear_relu_pairs_within_the_budget():
    g = flat_sequential(400)  # 200 x (Linear: 4 nodes, ReLU: 1) + root + sum
    assert g.number_of_nodes() == 1002
    v = views.apply(g)
    assert v.number_of_nodes() == 3 and accounted(g, v) == 1002
    ((gid, node),) = groups(v).items()
    assert gid == "f:0..399" and node["title"] == "0-399 (Linear, ReLU)"
    assert node["repeat"] == 200 and node["members"] == 1000
    assert v.graph["view_note"].startswith("auto view of a pass over 400 nodes: folded 0-399 (Linear, ReLU) ×200")


def test_a_long_fold_lists_its_first_and_last_blocks_and_says_how_many_it_left_out():
    node = groups(views.apply(flat_sequential(400)))["f:0..399"]
    table = node["table"]
    assert len(table) == MAX_FOLD_ROWS + 1 and len(node["bars"]) == len(table)
    assert table[0] == ["398-399", "in 0.5 · params 0.35355"]  # the last block first; params: sqrt(2 × 0.25²)
    assert table[-1][0] == "0-1"
    gap = table[MAX_FOLD_ROWS // 2]
    assert gap == ["…", "136 blocks not listed (fold=False or --depth N draws them)"]


def test_module_groups_are_merged_when_no_module_depth_fits():
    g = flat_sequential(900, period=CLASSES, weighted=True)  # 5 classes: a period past views_modules.PERIOD
    v = views.apply(g)
    assert v.number_of_nodes() <= views.NODE_BUDGET
    assert accounted(g, v) == g.number_of_nodes()
    assert nx.is_directed_acyclic_graph(v)
    merged = [a for a in groups(v).values() if a["op"] == "group"]  # structure groups over several modules
    assert merged and all(a["title"].count(" … ") == 1 for a in merged)
    assert "modules collapsed to depth 1" in v.graph["view_note"]
    assert "chains of single-input single-output ops merged" in v.graph["view_note"]


def test_a_chain_without_modules_says_what_each_box_hides_and_how_to_see_it():
    g = chain_graph(1000)
    v = views.apply(g)
    assert v.number_of_nodes() <= views.NODE_BUDGET and accounted(g, v) == 1000
    for node in groups(v).values():
        assert node["title"] == "SinBackward0"
        assert node["lines"][1] == f"{node['members']} SinBackward0"
    assert "budget=10**9" in v.graph["view_hint"]
    assert "view_hint" not in views.apply(g, depth=2).graph  # asked for: nothing hidden behind its back


@pytest.mark.dot
def test_a_big_pass_is_reduced_once_for_its_picture_and_its_page(monkeypatch):
    calls = []
    apply = views.apply
    monkeypatch.setattr(views, "apply", lambda graph, **kw: calls.append(kw) or apply(graph, **kw))
    g = chain_graph(1000)
    out = dict(render.draw(g, ["svg", "html"]))
    assert len(calls) == 1  # the page reuses the view the SVG was drawn from
    svg = out["svg"].decode()
    assert "draw them all with budget=10**9" in svg and svg.count("gt&#45;group") > 1


def test_a_wide_fan_in_meets_the_budget():
    b = Builder()  # root -> sum -> stack <- 600 x (mul <- its parameter), no modules: torch.stack([w_i * x]).sum()
    root, total, stack = b.add("output", kind="root"), b.add("SumBackward0"), b.add("StackBackward0")
    b.edge(root, total)
    b.edge(total, stack)
    for i in range(600):
        mul = b.add("MulBackward0")
        b.edge(stack, mul)
        b.edge(mul, b.add("AccumulateGrad", kind="leaf", param=f"w{i}"))
    g = b.g
    v = views.apply(g)
    assert v.number_of_nodes() <= views.NODE_BUDGET and accounted(g, v) == 1203
    assert nx.is_directed_acyclic_graph(v)


@pytest.mark.parametrize("reused", [False, True])
def test_a_long_op_chain_with_modules_mixed_in_meets_the_budget(reused):
    b = Builder()  # 100 x (9 sin ops, then a Linear: one module reused, or a new one each time)
    x = b.add("output", kind="root")
    for i in range(100):
        for _ in range(9):
            op = b.add("SinBackward0")
            b.edge(x, op)
            x = op
        x = b.linear(x, "lin" if reused else f"layers.{i}", 1.0)
    g = b.g
    v = views.apply(g)
    assert v.number_of_nodes() <= views.NODE_BUDGET and accounted(g, v) == g.number_of_nodes() == 1301
