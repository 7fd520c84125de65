"""Mixed precision on CPU: autocast to bfloat16 in the forward, float32 parameters."""

import torch
from corpus import node, save_grads
from torch import nn


def expect(run):
    (p,) = run.passes
    assert node(p, "weight")["dtype"] == "float32"
    assert any(n["dtype"] == "bfloat16" for n in p["nodes"])


if __name__ == "__main__":
    torch.manual_seed(0)
    lin = nn.Linear(8, 4)
    x = torch.randn(5, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = lin(x)
        loss = out.float().pow(2).mean()
    loss.backward()
    print(out.dtype, f"{loss.item():.4f}")
    save_grads(w=lin.weight.grad, b=lin.bias.grad)
