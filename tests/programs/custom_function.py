"""A custom autograd.Function with a once_differentiable backward."""

import torch
from corpus import save_grads
from torch.autograd.function import once_differentiable


class Clamp01(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.clamp(0, 1)

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * ((x > 0) & (x < 1)).to(g.dtype)


def expect(run):
    (p,) = run.passes
    assert any(n["op"] == "Clamp01Backward" for n in p["nodes"])


if __name__ == "__main__":
    x = torch.tensor([-0.5, 0.25, 0.75, 1.5], requires_grad=True)
    (Clamp01.apply(x * 2) ** 2).sum().backward()
    print("grad", x.grad.tolist())
    save_grads(x=x.grad)
