"""Activation checkpointing, reentrant and not."""

import torch
from corpus import save_grads
from torch import nn
from torch.utils.checkpoint import checkpoint


def expect(run):
    assert len(run.passes) == 2


if __name__ == "__main__":
    torch.manual_seed(0)
    block = nn.Sequential(nn.Linear(4, 4), nn.Tanh(), nn.Linear(4, 4))
    x = torch.randn(3, 4, requires_grad=True)
    for reentrant in (False, True):
        out = checkpoint(block, x, use_reentrant=reentrant)
        out.pow(2).sum().backward()
        print("reentrant", reentrant, round(x.grad.sum().item(), 6))
    save_grads(x=x.grad, **{n: p.grad for n, p in block.named_parameters()})
