"""A GPT-2 from the transformers package (random weights, no hub): provenance and folded view."""

from __future__ import annotations

import os
import re
import subprocess

import pytest
import torch

import graphtrace
from graphtrace.render import to_dot, views

pytestmark = pytest.mark.xdist_group("views_hf_gpt2")  # NOTE [two workers] in scripts/test.sh

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # built from a config: nothing may be downloaded
transformers = pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def traced():
    torch.manual_seed(0)
    config = transformers.GPT2Config(
        n_layer=3, n_embd=64, n_head=4, vocab_size=256, n_positions=64, bos_token_id=0, eos_token_id=0
    )
    model = transformers.GPT2LMHeadModel(config)
    ids = torch.randint(0, 256, (1, 16))
    with graphtrace.trace() as t:
        model(ids, labels=ids).loss.backward()
    return model, t.passes[0].graph


def test_every_op_knows_its_module_and_line_and_every_parameter_its_name(traced):
    model, g = traced
    ops = [a for _, a in g.nodes(data=True) if a["kind"] == "op"]
    assert all(a["source"] and a["module_class"] for a in ops)
    modules = {a["module"] for a in ops}
    assert {"transformer.h.2.attn.c_attn", "transformer.h.0.mlp.c_fc", "transformer.ln_f"} <= modules
    assert g.graph["modules"]["transformer.h.1.attn.c_attn"] == "Conv1D"
    leaves = {a["param"]: a for _, a in g.nodes(data=True) if a["kind"] == "leaf"}
    assert set(leaves) == {n for n, _ in model.named_parameters()}  # lm_head is tied to wte
    grad = model.transformer.h[1].mlp.c_proj.weight.grad
    recorded = leaves["transformer.h.1.mlp.c_proj.weight"]["grad_after"]
    assert recorded["norm"] == pytest.approx(torch.linalg.vector_norm(grad).item(), rel=1e-5)


def test_fold_draws_the_three_blocks_once_with_their_gradient_norms(traced):
    _model, g = traced
    view = views.apply(g, fold=True)
    (folded,) = [a for _, a in view.nodes(data=True) if a.get("repeat", 1) > 1]
    assert folded["repeat"] == 3 and folded["module"].startswith("transformer.h")
    assert [row[0] for row in folded["table"]] == ["h.2", "h.1", "h.0"]  # as the gradient flows
    assert view.number_of_nodes() < g.number_of_nodes() / 5


def test_fold_bars_are_the_norms_of_each_block_in_backward_order(traced):
    model, g = traced
    view = views.apply(g, fold=True)
    (folded,) = [a for _, a in view.nodes(data=True) if a.get("repeat", 1) > 1]
    params = [
        torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(p.grad) for p in block.parameters()]))
        for block in reversed(model.transformer.h)
    ]  # h.2 first: the backward reaches it first
    assert [b[1] for b in folded["bars"]] == pytest.approx([p.item() for p in params], rel=1e-5)
    assert folded["table"][0][1].startswith("in 1.1561")  # what enters h.2 from ln_f
    dot = to_dot(g, fold=True)
    assert dot.count('BGCOLOR="#1f3b73"') == 3 and dot.count('BGCOLOR="#2e7d32"') == 3  # one bar each
    assert dot.count('<TD WIDTH="80" HEIGHT="4"') == 0 and 'WIDTH="79" HEIGHT="4" FIXEDSIZE="TRUE" BGCOLOR' in dot


def plain_layout(dot: str) -> tuple[dict[str, float], list[tuple[str, str]]]:
    """Node heights (y grows upward) and edges of dot's plain layout."""
    out = subprocess.run(["dot", "-Tplain"], input=dot.encode(), capture_output=True, check=True).stdout.decode()
    rows = [line.split() for line in out.splitlines()]
    return {r[1]: float(r[3]) for r in rows if r[0] == "node"}, [(r[1], r[2]) for r in rows if r[0] == "edge"]


def cluster_tree(dot: str) -> dict[str, str]:
    """Cluster title -> title of the cluster it is drawn in ("" at the top)."""
    parents, stack = {}, []
    for line in dot.splitlines():
        if line.strip().startswith("subgraph cluster_"):
            stack.append(None)
        elif line.strip().startswith("label=<") and stack and stack[-1] is None:
            stack[-1] = re.sub(r"<[^>]+>", "", line.strip()[6:]).strip("<>")
            parents[stack[-1]] = next((t for t in reversed(stack[:-1]) if t), "")
        elif line.strip() == "}" and stack:
            stack.pop()
    return parents


@pytest.mark.dot
@pytest.mark.parametrize("view", [{"fold": True}, {}])
def test_clusters_nest_as_the_modules_do_and_edges_go_down_in_backward_order(traced, view):
    _model, g = traced
    dot = to_dot(g, clusters=True, **view)
    tree = cluster_tree(dot)
    assert tree["transformer.ln_f (LayerNorm)"] == "transformer (GPT2Model)"
    assert tree["transformer (GPT2Model)"] == "" and tree["lm_head (Linear)"] == ""
    assert "transformer (LayerNorm)" not in tree and "transformer (Embedding)" not in tree
    if not view:  # every block is drawn open: its modules in it, each box by its own class
        assert tree["transformer.h.1 (GPT2Block)"] == "transformer.h"
        assert tree["transformer.h.1.attn.c_attn (Conv1D)"] == "transformer.h.1.attn (GPT2Attention)"
    ln_f = dot[dot.index("transformer.ln_f (LayerNorm)") :]
    assert "<B>transformer.ln_f.weight</B>" in ln_f[: ln_f.index("  }")]  # a parameter sits in its owner's box
    heights, edges = plain_layout(dot)
    assert edges and all(heights[u] > heights[v] for u, v in edges)  # no edge climbs the page
