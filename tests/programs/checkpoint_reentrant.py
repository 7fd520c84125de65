"""Reentrant checkpoint: the recomputed region's nodes and parameters are in the pass (issue 11 item 13)."""

import torch
from corpus import save_grads
from torch import nn
from torch.utils.checkpoint import checkpoint


def expect(run):
    (p,) = run.passes
    inner = [n for n in p["nodes"] if n.get("nested_in") is not None]
    assert sorted(n["param"] for n in inner if n["param"]) == ["0.bias", "0.weight", "2.bias", "2.weight"]
    assert all(n["step"] is not None for n in inner)


if __name__ == "__main__":
    torch.manual_seed(0)
    block = nn.Sequential(nn.Linear(4, 4), nn.Tanh(), nn.Linear(4, 4))
    x = torch.randn(3, 4, requires_grad=True)
    checkpoint(block, x, use_reentrant=True).pow(2).sum().backward()
    print("x.grad sum", round(x.grad.sum().item(), 5))
    save_grads(x=x.grad, **{n: p.grad for n, p in block.named_parameters()})
