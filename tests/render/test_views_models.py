"""Provenance and views on real captures: GPT-2, ResNet-18 and TransformerEncoder shapes, weight sharing."""

from __future__ import annotations

import linecache
import math

import networkx as nx
import pytest

torch = pytest.importorskip("torch")

from models import (  # noqa: E402  (tests/ is on sys.path: tests/conftest.py's folder)
    Encoder,
    GPT2Config,
    GPT2LMHeadModel,
    ResNet18,
    Shared,
    gpt2_batch,
    lm_loss,
)

import graphtrace  # noqa: E402
from graphtrace.render import views  # noqa: E402

pytestmark = pytest.mark.xdist_group("views_models")  # NOTE [two workers] in scripts/test.sh


def capture(model: torch.nn.Module, *inputs: torch.Tensor, loss=lambda y: y.sum()) -> nx.DiGraph:
    with graphtrace.trace() as t:
        out = loss(model(*inputs))
        out.backward()
    assert len(t.passes) == 1
    return t.passes[0].graph


def groups(view: nx.DiGraph) -> dict:
    return {n: a for n, a in view.nodes(data=True) if a.get("kind") == "group"}


def ops(g: nx.DiGraph, op: str) -> list[dict]:
    return [a for _, a in g.nodes(data=True) if a.get("op") == op]


@pytest.fixture(scope="module")
def gpt():
    torch.manual_seed(0)
    cfg = GPT2Config(n_layer=4, n_embd=64, n_head=4, vocab_size=128, n_positions=32)
    model = GPT2LMHeadModel(cfg).eval()
    idx, targets = gpt2_batch(cfg, tokens=8)
    graph = capture(model, idx, loss=lambda logits: lm_loss(logits, targets))
    return model, graph


# -- provenance (issue 6) ------------------------------------------------------------------------------
def test_parameter_leaves_carry_full_names(gpt):
    model, g = gpt
    names = dict(model.named_parameters())  # the tied lm_head weight is named once, as wte's
    leaves = [a for _, a in g.nodes(data=True) if a["kind"] == "leaf"]
    assert sorted(a["param"] for a in leaves) == sorted(names)
    for a in leaves:
        assert a["shape"] == list(names[a["param"]].shape)


def test_tagged_ops_name_real_modules_and_classes(gpt):
    model, g = gpt
    modules = {name: type(m).__name__ for name, m in model.named_modules()}
    tagged = [a for _, a in g.nodes(data=True) if a["kind"] == "op" and a["module"]]
    assert len(tagged) > 40
    for a in tagged:
        assert modules[a["module"]] == a["module_class"]


def test_functional_code_inside_a_module_is_tagged_with_it(gpt):
    _, g = gpt
    softmax = ops(g, "SoftmaxBackward0")
    assert sorted(a["module"] for a in softmax) == [f"transformer.h.{i}.attn" for i in range(4)]
    assert {a["module_class"] for a in softmax} == {"GPT2Attention"}
    for a in softmax:  # file:line of the user's line of code
        path, line = a["source"].rsplit(":", 1)
        assert path.endswith("models.py") and "F.softmax" in linecache.getline(path, int(line))


def test_ops_outside_any_module_have_an_empty_path(gpt):
    _, g = gpt
    (nll,) = ops(g, "NllLossBackward0")
    assert (nll["module"], nll["module_class"]) == ("", "")
    assert nll["source"].endswith("models.py:" + nll["source"].rsplit(":", 1)[1])


def test_every_op_knows_its_module_and_source(gpt):
    _, g = gpt
    (nll,) = ops(g, "NllLossBackward0")
    for _, a in g.nodes(data=True):  # internal nodes of composite ops (F.linear's TBackward0) too
        if a["kind"] == "op":
            assert a["source"], a["op"]
            assert a["module"] or a["source"] == nll["source"], a["op"]  # only the loss is outside


def test_weight_sharing_one_module_called_twice():
    torch.manual_seed(0)
    model = Shared()
    g = capture(model, torch.randn(3, 4))
    calls = [n for n, a in g.nodes(data=True) if a["op"] == "AddmmBackward0" and a["module"] == "lin"]
    assert len(calls) == 2 and len({g.nodes[n]["source"] for n in calls}) == 2
    (w,) = [n for n, a in g.nodes(data=True) if a["param"] == "lin.weight"]
    assert g.in_degree(w) == 2  # both calls send a gradient to the one parameter
    assert {g.nodes[n]["op"] for n in g.predecessors(w)} == {"TBackward0"}
    inside = [a for a in ops(g, "TanhBackward0") + ops(g, "MulBackward0")]
    assert {(a["module"], a["module_class"]) for a in inside} == {("", "Shared")}  # the root module
    view = views.apply(g, depth=1)
    lin = groups(view)["g:lin"]
    assert lin["members"] == 6 and set(calls) <= set(lin["member_ids"])
    assert not nx.is_directed_acyclic_graph(view)  # lin -> tanh/mul -> lin: it ran twice


# -- views of real models -----------------------------------------------------------------------------
def test_gpt2_fold_table_matches_torch_gradients(gpt):
    model, g = gpt
    view = views.apply(g, fold=True)
    node = groups(view)["f:transformer.h.0..3"]
    assert node["repeat"] == 4 and node["title"] == "transformer.h.0-3 (GPT2Block)"
    assert [row[0] for row in node["table"]] == ["h.3", "h.2", "h.1", "h.0"]  # as the gradient flows
    for label, value in node["table"]:
        block = model.transformer.h[int(label[2:])]
        norm = math.sqrt(sum(float(p.grad.norm()) ** 2 for p in block.parameters()))
        shown = float(value.split("params ")[1])
        assert shown == pytest.approx(norm, rel=1e-4)
    assert node["health"] == "ok"


def test_gpt2_depth_groups_cover_the_graph(gpt):
    _, g = gpt
    view = views.apply(g, depth=3)
    gs = groups(view)
    assert {f"g:transformer.h.{i}" for i in range(4)} | {"g:lm_head", "g:transformer.ln_f"} <= set(gs)
    covered = sum(a["members"] for a in gs.values()) + sum(1 for n in view if not isinstance(n, str))
    assert covered == g.number_of_nodes()
    assert all(a["health"] == "ok" for a in gs.values())
    blocks = [gs[f"g:transformer.h.{i}"] for i in range(4)]
    assert len({a["members"] for a in blocks}) == 1  # untagged internals follow their module
    assert nx.is_directed_acyclic_graph(view)


def test_gpt2_auto_view_under_a_small_budget(gpt):
    _, g = gpt
    view = views.apply(g, budget=40)
    assert view.number_of_nodes() <= 40
    assert "f:transformer.h.0..3" in view and view.graph["view_note"].startswith("auto view")


def test_resnet18_folds_identical_blocks_only():
    torch.manual_seed(0)
    g = capture(ResNet18(width=4, classes=10), torch.randn(2, 3, 32, 32))
    gs = groups(views.apply(g, fold=True))
    assert list(gs) == ["f:layer1.0..1"]  # later stages start with a downsampling block
    gs = groups(views.apply(g, depth=1))
    assert {"g:layer1", "g:layer2", "g:layer3", "g:layer4", "g:fc", "g:conv1", "g:bn1"} <= set(gs)
    # a Sequential runs no op itself: its class is known only from a graph attr "modules"
    assert gs["g:layer2"]["title"] in ("layer2", "layer2 (Sequential)")


def test_transformer_encoder_layers_fold():
    torch.manual_seed(0)
    x = torch.randn(2, 5, 32, requires_grad=True)
    g = capture(Encoder(), x)
    view = views.apply(g, fold=True)
    (node,) = groups(view).values()
    assert node["title"] == "encoder.layers.0-2 (TransformerEncoderLayer)" and node["repeat"] == 3
    gs = groups(views.apply(g, depth=3))
    assert {"g:encoder.layers.0", "g:encoder.layers.1", "g:encoder.layers.2", "g:head"} <= set(gs)
    params = {a["param"] for _, a in g.nodes(data=True) if a["kind"] == "leaf"}
    assert "encoder.layers.1.self_attn.in_proj_weight" in params
