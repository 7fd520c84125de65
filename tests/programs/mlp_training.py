"""A small MLP trained for three steps: SGD, gradient clipping, zero_grad(set_to_none=True)."""

import torch
from corpus import node, save_grads
from torch import nn


def expect(run):
    assert len(run.passes) == 3
    last = run.passes[-1]
    w = node(last, "0.weight")
    assert w["param"] == "0.weight" and w["shape"] == [8, 4]
    assert {n["op"] for n in last["nodes"]} >= {"AddmmBackward0", "ReluBackward0", "MseLossBackward0"}


if __name__ == "__main__":
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x, y = torch.randn(16, 4), torch.randn(16, 1)
    for step in range(3):
        opt.zero_grad(set_to_none=True)
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
        norm = nn.utils.clip_grad_norm_(model.parameters(), 0.5)
        opt.step()
        print(f"step {step} loss {loss.item():.6f} norm {norm.item():.6f}")
    save_grads(**{n: p.grad for n, p in model.named_parameters()}, **{"p." + n: p for n, p in model.named_parameters()})
