"""Views on hand-built module-tagged graphs: depth, expand, fold, auto budget, merged edges."""

from __future__ import annotations

import json
import math

import networkx as nx
import pytest

from graphtrace import GraphtraceError
from graphtrace.render import views


# -- a GPT-2-shaped pass built by hand (edges point the way gradient flows) ---------------------
def rec(norm: float, nan: int = 0, shape: tuple = (1, 8, 64)) -> dict:
    return {
        "shape": list(shape),
        "dtype": "float32",
        "numel": math.prod(shape),
        "values": None,
        "norm": norm,
        "min": -1.0,
        "max": 1.0,
        "mean": 0.0,
        "nan": nan,
        "inf": 0,
    }


class Builder:
    def __init__(self) -> None:
        self.g = nx.DiGraph()
        self.g.graph.update(index=1, kind="backward", roots=[0], inputs=[])

    def add(
        self,
        op: str,
        module: str = "",
        cls: str = "",
        kind: str = "op",
        param: str = "",
        norm: float = 1.0,
        nan: int = 0,
    ) -> int:
        n = self.g.number_of_nodes()
        leaf = kind == "leaf"
        self.g.add_node(
            n,
            kind=kind,
            op=op,
            name="",
            param=param,
            module="" if leaf else module,
            module_class="" if leaf else cls,
            step=n,
            grad_in=[rec(norm, nan)],
            shape=[1, 8, 64],
            source="" if leaf else f"model.py:{n}",
            is_leaf=leaf,
        )
        return n

    def edge(self, u: int, v: int, norm: float = 1.0, nan: int = 0) -> None:
        self.g.add_edge(u, v, slots=[0], input_nr=0, grad=rec(norm, nan))

    def linear(self, into: int, path: str, norm: float) -> int:
        mm = self.add("AddmmBackward0", path, "Linear", norm=norm)
        self.edge(into, mm, norm)
        bias = self.add("AccumulateGrad", kind="leaf", param=path + ".bias", norm=norm)
        self.edge(mm, bias, norm)
        t = self.add("TBackward0", norm=norm)  # untagged, as capture leaves F.linear's transpose
        self.g.nodes[t]["source"] = ""
        self.edge(mm, t, norm)
        w = self.add("AccumulateGrad", kind="leaf", param=path + ".weight", norm=norm)
        self.edge(t, w, norm)
        return mm

    def layernorm(self, into: int, path: str, norm: float, param_norm: float | None = None) -> int:
        ln = self.add("NativeLayerNormBackward0", path, "LayerNorm", norm=norm)
        self.edge(into, ln, norm)
        for p in ("weight", "bias"):
            leaf = self.add(
                "AccumulateGrad", kind="leaf", param=f"{path}.{p}", norm=norm if param_norm is None else param_norm
            )
            self.edge(ln, leaf, norm)
        return ln


def gpt_graph(
    layers: int = 4,
    *,
    nan_block: int | None = None,
    extra_op_block: int | None = None,
    zero_block: int | None = None,
    modules: bool = True,
) -> nx.DiGraph:
    """Root -> loss -> lm_head -> ln_f -> h.N-1 ... h.0 -> embeddings; block i's gradients ~ 2**-(L-i)."""
    b = Builder()
    root = b.add("output", kind="root")
    loss = b.add("NllLossBackward0")  # outside every module
    b.edge(root, loss)
    x = b.layernorm(b.linear(loss, "lm_head", 1.0), "transformer.ln_f", 1.0)
    for i in reversed(range(layers)):
        p, norm, nan = f"transformer.h.{i}", 0.5 ** (layers - i), int(i == nan_block)
        add2 = b.add("AddBackward0", p, "Block", norm=norm)
        b.edge(x, add2, norm)
        m = b.linear(add2, p + ".mlp.c_proj", norm)
        gelu = b.add("GeluBackward0", p + ".mlp.act", "GELU", norm=norm, nan=nan)
        b.edge(m, gelu, norm, nan)
        m = b.linear(gelu, p + ".mlp.c_fc", norm)
        if i == extra_op_block:
            extra = b.add("MulBackward0", p + ".mlp", "MLP", norm=norm)
            b.edge(m, extra, norm)
            m = extra
        ln2 = b.layernorm(m, p + ".ln_2", norm, 0.0 if i == zero_block else None)
        add1 = b.add("AddBackward0", p, "Block", norm=norm)
        b.edge(add2, add1, norm)
        b.edge(ln2, add1, norm)
        a = b.linear(add1, p + ".attn.c_proj", norm)
        sm = b.add("SoftmaxBackward0", p + ".attn", "Attention", norm=norm)
        b.edge(a, sm, norm)
        ln1 = b.layernorm(b.linear(sm, p + ".attn.c_attn", norm), p + ".ln_1", norm)
        xin = b.add("AddBackward0", p, "Block", norm=norm)  # the junction at the block's input
        b.edge(add1, xin, norm)
        b.edge(ln1, xin, norm)
        x = xin
    emb = b.add("AddBackward0", "transformer", "GPT2Model")
    b.edge(x, emb)
    for name in ("wte", "wpe"):
        e = b.add("EmbeddingBackward0", f"transformer.{name}", "Embedding")
        b.edge(emb, e)
        b.edge(e, b.add("AccumulateGrad", kind="leaf", param=f"transformer.{name}.weight"))
    if not modules:
        for _, attrs in b.g.nodes(data=True):
            attrs.update(module="", module_class="", param="", source="")
    return b.g


def chain_graph(n: int) -> nx.DiGraph:
    """root -> op -> op ... -> leaf, no module information."""
    g = nx.DiGraph()
    g.graph.update(roots=[0], inputs=[])
    g.add_node(0, kind="root", op="output", grad_in=[rec(1.0)])
    for i in range(1, n):
        g.add_node(i, kind="leaf" if i == n - 1 else "op", op="SinBackward0", grad_in=[rec(1.0)])
        g.add_edge(i - 1, i, slots=[0], grad=rec(1.0))
    return g


def groups(view: nx.DiGraph) -> dict:
    return {n: a for n, a in view.nodes(data=True) if a.get("kind") == "group"}


def shape_of(view: nx.DiGraph) -> tuple:
    return list(view.nodes(data=True)), list(view.edges(data=True)), dict(view.graph)


# -- unchanged below the budget ------------------------------------------------------------------
def test_small_graph_is_returned_unchanged():
    g = gpt_graph(2)
    assert views.apply(g) is g
    assert views.apply(g, fold=False, expand=("transformer.h.0",)) is g


def test_budget_none_never_reduces():
    g = gpt_graph(20)
    assert g.number_of_nodes() > views.NODE_BUDGET
    assert views.apply(g, budget=None) is g


@pytest.mark.parametrize("depth", [0, -1, 1.5, True, "3"])
def test_bad_depth_raises(depth):
    with pytest.raises(GraphtraceError, match="depth"):
        views.apply(gpt_graph(1), depth=depth)


# -- depth ---------------------------------------------------------------------------------------
def test_depth_groups_modules_at_that_depth():
    g = gpt_graph(4)
    v = views.apply(g, depth=3)
    gs = groups(v)
    assert list(gs) == [
        "g:lm_head",
        "g:transformer.ln_f",
        "g:transformer.h.3",
        "g:transformer.h.2",
        "g:transformer.h.1",
        "g:transformer.h.0",
        "g:transformer.wte",
        "g:transformer.wpe",
    ]
    block = gs["g:transformer.h.3"]
    assert block["title"] == "transformer.h.3 (Block)"
    assert block["module"] == "transformer.h.3" and block["module_class"] == "Block"
    assert block["members"] == 27 and block["repeat"] == 1
    assert block["lines"][0] == "15 ops, 12 params"
    assert block["lines"][1] == "grad in [1, 8, 64] norm 0.5"
    assert block["lines"][-1] == "params ‖g‖ 1.7321 (12 tensors)"
    assert ["ln_1.bias", "‖g‖ 0.5"] in block["table"]
    assert block["health"] == "ok"
    # ops outside modules, ops directly in a container module and the root stay as they are
    assert [n for n in v if not isinstance(n, str)] == [0, 1, g.number_of_nodes() - 5]
    # untagged TBackward0 nodes follow their consumer into its module
    assert set(block["member_ids"]) >= {
        n
        for n in g
        if g.nodes[n]["op"] == "TBackward0"
        and g.nodes[next(iter(g.predecessors(n)))].get("module", "").startswith("transformer.h.3")
    }


def test_depth_edges_are_merged_without_self_loops():
    v = views.apply(gpt_graph(4), depth=3)
    assert nx.number_of_selfloops(v) == 0
    assert nx.is_directed_acyclic_graph(v)
    assert v.edges["g:transformer.h.3", "g:transformer.h.2"]["merged"] == 1
    assert v.edges["g:transformer.h.3", "g:transformer.h.2"]["grad"]["norm"] == 0.25
    assert v.graph["view_note"] == "modules collapsed to depth 3 (122 → 11 nodes)"
    assert v.graph["view"] == {"depth": 3, "expand": [], "fold": False, "auto": False, "nodes": 122, "shown": 11}


def test_depth_deeper_opens_blocks_and_keeps_residual_adds():
    v = views.apply(gpt_graph(2), depth=4)
    gs = groups(v)
    assert "g:transformer.h.1.attn" in gs and "g:transformer.h.1.mlp" in gs
    assert "g:transformer.h.1.ln_1" in gs
    adds = [a for n, a in v.nodes(data=True) if a.get("module") == "transformer.h.1" and a["kind"] == "op"]
    assert [a["op"] for a in adds] == ["AddBackward0"] * 3


def test_merged_edge_keeps_largest_gradient_and_nan_wins():
    g = nx.DiGraph()
    g.graph["roots"] = [0]
    g.add_node(0, kind="root", op="output")
    for n, mod in ((1, "a"), (2, "a"), (3, "b"), (4, "b"), (5, "b")):
        g.add_node(n, kind="op", op="X", module=mod, module_class="M", source="f.py:1")
    g.add_edge(0, 1, slots=[0], grad=rec(1.0))
    g.add_edge(1, 2, slots=[0], grad=rec(1.0))
    g.add_edge(1, 3, slots=[0], grad=rec(2.0))
    g.add_edge(2, 4, slots=[0, 1], grad=rec(7.0), parts=[rec(3.0), rec(4.0)], local=rec(1.0))
    g.add_edge(2, 5, slots=[1], grad=rec(5.0))
    e = views.apply(g, depth=1).edges["g:a", "g:b"]
    assert e == {"grad": rec(7.0), "slots": [0, 1], "parts": [rec(3.0), rec(4.0)], "merged": 3}
    g.edges[1, 3]["grad"] = rec("nan", nan=1)
    assert views.apply(g, depth=1).edges["g:a", "g:b"]["grad"]["nan"] == 1


@pytest.mark.parametrize(("kw", "health"), [({"nan_block": 2}, "nan"), ({"zero_block": 2}, "zero"), ({}, "ok")])
def test_health_of_members_carries_over(kw, health):
    gs = groups(views.apply(gpt_graph(4, **kw), depth=3))
    assert gs["g:transformer.h.2"]["health"] == health
    assert gs["g:transformer.h.1"]["health"] == "ok"
    folded = groups(views.apply(gpt_graph(4, **kw), fold=True))["f:transformer.h.0..3"]
    assert folded["health"] == health


# -- expand --------------------------------------------------------------------------------------
def test_unnamed_leaves_join_their_consumers_module():
    g = gpt_graph(2)
    for _, attrs in g.nodes(data=True):
        attrs["param"] = ""  # the model was not in the caller's frame: no parameter names
    gs = groups(views.apply(g, depth=3))
    assert gs["g:transformer.h.1"]["lines"][0] == "15 ops, 12 params"
    assert groups(views.apply(g, fold=True))["f:transformer.h.0..1"]["table"][-1][1] == "in 0.25 · params 0.86603"


def test_module_classes_from_the_graph_attr():
    g = gpt_graph(2)
    for _, attrs in g.nodes(data=True):
        if attrs.get("module") == "transformer.h.1":
            attrs["module"], attrs["module_class"] = "transformer.h.1.mlp", "MLP"
    assert groups(views.apply(g, depth=3))["g:transformer.h.1"]["title"] == "transformer.h.1"
    g.graph["modules"] = {"transformer.h.1": "Block"}
    assert groups(views.apply(g, depth=3))["g:transformer.h.1"]["title"] == "transformer.h.1 (Block)"


def test_expand_opens_one_block():
    v = views.apply(gpt_graph(4), depth=3, expand=("transformer.h.1",))
    gs = groups(v)
    assert "g:transformer.h.1" not in gs
    assert {"g:transformer.h.1.attn", "g:transformer.h.1.mlp", "g:transformer.h.1.ln_2"} <= set(gs)
    assert "g:transformer.h.2" in gs
    assert "open: transformer.h.1" in v.graph["view_note"]


def test_expand_deep_path_opens_its_ancestors():
    gs = groups(views.apply(gpt_graph(3), depth=1, expand="transformer.h.2.attn"))
    assert "g:lm_head" in gs and "g:transformer" not in gs
    assert {"g:transformer.h.0", "g:transformer.h.1", "g:transformer.h.2.attn.c_attn"} <= set(gs)
    assert "g:transformer.h.2.mlp" in gs


def test_expand_unknown_path_is_reported():
    v = views.apply(gpt_graph(2), depth=3, expand=("transformer.h.9",))
    assert "expand: no module 'transformer.h.9' in this pass" in v.graph["view_note"]


# -- fold ----------------------------------------------------------------------------------------
def test_fold_draws_identical_blocks_once_with_a_table():
    v = views.apply(gpt_graph(4), fold=True)
    ((gid, node),) = groups(v).items()
    assert gid == "f:transformer.h.0..3"
    assert node["title"] == "transformer.h.0-3 (Block)"
    assert node["repeat"] == 4 and node["members"] == 4 * 27
    assert node["table"] == [
        ["h.3", "in 0.5 · params 1.7321"],
        ["h.2", "in 0.25 · params 0.86603"],
        ["h.1", "in 0.125 · params 0.43301"],
        ["h.0", "in 0.0625 · params 0.21651"],
    ]
    bars = [v for row in node["bars"] for v in row]  # NOTE [fold bars]: backward order, as the gradient flows
    assert bars == pytest.approx([0.5, 1.7321, 0.25, 0.86603, 0.125, 0.43301, 0.0625, 0.21651], rel=1e-4)
    assert node["lines"][-1] == "params ‖g‖ per block 0.21651 (h.0) to 1.7321 (h.3)"
    assert v.graph["view_note"].startswith("folded transformer.h.0-3 (Block) ×4")


def test_a_fold_whose_blocks_have_equal_parameter_gradients_says_so_and_names_no_block():
    b = Builder()
    x = b.add("SumBackward0")
    b.edge(b.add("output", kind="root"), x)
    for i in reversed(range(12)):  # every block's weight and bias gradient norm 1: sqrt(2) per block
        x = b.linear(x, f"seq.{i}", 1.0)
    ((node),) = groups(views.apply(b.g, fold=True)).values()
    assert node["lines"][-1] == "params ‖g‖ 1.4142 in each of the 12 blocks"  # was "1.4142 (seq.0) to 1.4142 (seq.9)"


def test_fold_breaks_runs_at_a_different_block_and_at_expand():
    gs = groups(views.apply(gpt_graph(6, extra_op_block=2), fold=True))
    assert list(gs) == ["f:transformer.h.3..5", "f:transformer.h.0..1"]
    gs = groups(views.apply(gpt_graph(6), fold=True, expand=("transformer.h.3",)))
    assert list(gs) == ["f:transformer.h.4..5", "f:transformer.h.0..2"]


def test_fold_with_depth_folds_blocks_and_groups_the_rest():
    gs = groups(views.apply(gpt_graph(4), fold=True, depth=4))
    assert "f:transformer.h.0..3" in gs and "g:transformer.ln_f" in gs and "g:lm_head" in gs


def test_fold_without_repeats_says_so():
    v = views.apply(gpt_graph(1), fold=True)
    assert not groups(v) and "no repeated blocks to fold" in v.graph["view_note"]


# -- auto ----------------------------------------------------------------------------------------
def test_auto_folds_and_picks_the_deepest_depth_that_fits():
    g = gpt_graph(48)
    assert g.number_of_nodes() > views.NODE_BUDGET
    v = views.apply(g)
    assert v.number_of_nodes() <= views.NODE_BUDGET
    assert "f:transformer.h.0..47" in v
    assert v.graph["view_note"].startswith("auto view of a pass over 400 nodes: folded transformer.h.0-47")
    v = views.apply(g, fold=False)
    assert v.number_of_nodes() <= views.NODE_BUDGET and v.graph["view"]["depth"] == 4
    assert not any(isinstance(n, str) and n.startswith("f:") for n in v)


def test_auto_without_modules_collapses_structurally():
    g = gpt_graph(48, modules=False)
    v = views.apply(g, budget=100)
    assert v.number_of_nodes() <= 100
    assert nx.is_directed_acyclic_graph(v)
    assert "chains of single-input single-output ops merged" in v.graph["view_note"]
    assert all(n.startswith("s:") for n in groups(v))
    assert (
        sum(a["members"] for a in groups(v).values()) + sum(1 for n in v if not isinstance(n, str))
        == g.number_of_nodes()
    )


def test_big_graphs_reduce_without_recursion():  # their speed is measured in bench/, not asserted here
    for g in (gpt_graph(120), gpt_graph(120, modules=False), chain_graph(20_000)):
        v = views.apply(g)
        assert v.number_of_nodes() <= views.NODE_BUDGET
        assert 0 in v  # the root stays


def test_asking_for_depth_on_a_graph_without_modules_explains():
    v = views.apply(chain_graph(10), depth=2)
    assert "ops carry no module paths" in v.graph["view_note"]


# -- identity and data rules -----------------------------------------------------------------------
def test_views_are_deterministic_and_plain_json():
    g = gpt_graph(30)
    for kw in ({}, {"depth": 3}, {"fold": True, "expand": ("transformer.h.7",)}, {"fold": False, "budget": 50}):
        a, b = views.apply(g, **kw), views.apply(gpt_graph(30), **kw)
        assert shape_of(a) == shape_of(b)
        json.dumps(
            {
                "nodes": [{"id": n, **d} for n, d in a.nodes(data=True)],
                "edges": [{"s": u, "t": v, **d} for u, v, d in a.edges(data=True)],
                "graph": a.graph,
            },
            allow_nan=False,
        )
        assert all(isinstance(n, int) or n[:2] in ("g:", "f:", "s:") for n in a)


def test_input_graph_is_not_modified():
    g = gpt_graph(4)
    before = shape_of(g)
    views.apply(g, depth=3)
    views.apply(g, fold=True)
    assert shape_of(g) == before


def test_weight_shared_module_is_one_group():
    g = nx.DiGraph()
    g.graph["roots"] = [0]
    g.add_node(0, kind="root", op="output")
    spec = [("AddmmBackward0", "lin"), ("TanhBackward0", ""), ("AddmmBackward0", "lin")]
    for n, (op, mod) in enumerate(spec, 1):
        g.add_node(n, kind="op", op=op, module=mod, module_class="Linear" if mod else "Net", source="m.py:1")
        g.add_edge(n - 1, n, slots=[0], grad=rec(1.0))
    g.add_node(4, kind="leaf", op="AccumulateGrad", param="lin.weight", grad_in=[rec(2.0)])
    g.add_edge(1, 4, slots=[1], grad=rec(1.0))
    g.add_edge(3, 4, slots=[1], grad=rec(1.0))
    v = views.apply(g, depth=1)
    assert groups(v)["g:lin"]["member_ids"] == [1, 3, 4]
    assert set(v.edges) == {(0, "g:lin"), ("g:lin", 2), (2, "g:lin")}  # the module ran twice
