"""A sparse Embedding gradient (nn.Embedding(sparse=True)) with SparseAdam-like use."""

import torch
from corpus import node, save_grads
from torch import nn


def expect(run):
    (p,) = run.passes
    w = node(p, "weight")
    assert w["grad_after"]["layout"] == "sparse_coo"


if __name__ == "__main__":
    torch.manual_seed(0)
    emb = nn.Embedding(10, 3, sparse=True)
    idx = torch.tensor([[1, 2, 4], [4, 3, 9]])
    emb(idx).sum(dim=1).pow(2).mean().backward()
    print("sparse", emb.weight.grad.is_sparse, emb.weight.grad.coalesce().indices().tolist())
    save_grads(w=emb.weight.grad.to_dense())
