"""torch.compile'd model (aot_eager backend): its backward is one CompiledFunctionBackward node."""

import torch
from corpus import save_grads
from torch import nn


def expect(run):
    ops = [n["op"] for n in run.passes[0]["nodes"]]
    assert "CompiledFunctionBackward" in ops


if __name__ == "__main__":
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1))
    compiled = torch.compile(model, backend="aot_eager")
    loss = compiled(torch.ones(2, 3)).sum()
    loss.backward()
    print(round(loss.item(), 6))
    save_grads(**{n: p.grad for n, p in model.named_parameters()})
