"""A GPT-2 from the transformers package (random weights, no hub): provenance and folded view."""

from __future__ import annotations

import os

import pytest
import torch

import graphtrace
from graphtrace.render import views

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # built from a config: nothing may be downloaded
transformers = pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def traced():
    torch.manual_seed(0)
    config = transformers.GPT2Config(n_layer=3, n_embd=64, n_head=4, vocab_size=256, n_positions=64,
                                     bos_token_id=0, eos_token_id=0)
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
    assert [row[0] for row in folded["table"]] == ["h.0", "h.1", "h.2"]
    assert view.number_of_nodes() < g.number_of_nodes() / 5
