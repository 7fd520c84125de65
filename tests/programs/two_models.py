"""A GAN's generator and discriminator with the same layer names: unique names per pass (issue 11 item 15)."""

import torch
from corpus import save_grads
from torch import nn


def expect(run):
    for p in run.passes[:2]:
        params = sorted(n["param"] for n in p["nodes"] if n["param"])
        assert params == [
            "D.0.bias",
            "D.0.weight",
            "D.2.bias",
            "D.2.weight",
            "G.0.bias",
            "G.0.weight",
            "G.2.bias",
            "G.2.weight",
        ], params
        assert all(n["name"] == "" for n in p["nodes"] if n["param"])  # never the loop's p or param
    assert sorted(n["param"] for n in run.passes[2]["nodes"] if n["param"]) == [
        "0.bias",
        "0.weight",
        "2.bias",
        "2.weight",
    ]


if __name__ == "__main__":
    torch.manual_seed(0)
    G = nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 2))
    D = nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 1))
    z = torch.randn(4, 2)
    for _ in range(2):
        D(G(z)).mean().backward()
        for p in G.parameters():
            p.grad = None
        for param in D.parameters():
            param.grad = None
    D(z).mean().backward()
    print("D grad norm", round(sum(p.grad.norm().item() for p in D.parameters()), 5))
    save_grads(**{f"D.{n}": p.grad for n, p in D.named_parameters()})
