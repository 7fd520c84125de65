"""Finite float64 values near the top of the range: every pass kept, exit 0 (issue 11 item 6)."""

import torch
from corpus import node, save_grads
from torch import nn

ARGS = ["-q", "--format", "json,svg,html"]


def expect(run):
    assert len(run.passes) == 2
    x = node(run.passes[0], "x")
    assert x["grad_after"]["values"] == [1e200, 1e200, 1e200]
    assert (run.out / "index.html").exists()


if __name__ == "__main__":
    torch.manual_seed(0)
    x = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64, requires_grad=True)
    (x * 1e200).sum().backward()
    lin = nn.Linear(3, 2).double()
    (lin(x.detach() * 1e308) * 1e-10).sum().backward()
    print("grad", x.grad.tolist())
    save_grads(x=x.grad, w=lin.weight.grad, b=lin.bias.grad)
