"""torch.autograd.grad with allow_unused=True and with is_grads_batched=True."""

import torch
from corpus import save_grads


def expect(run):
    assert [p["graph"]["api"] for p in run.passes] == ["torch.autograd.grad"] * 2


if __name__ == "__main__":
    x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    unused = torch.tensor(4.0, requires_grad=True)
    gx, gu = torch.autograd.grad((x**2).sum(), [x, unused], allow_unused=True)
    print("allow_unused", gx.tolist(), gu)
    y = x * torch.tensor([2.0, 3.0, 4.0])
    (jac,) = torch.autograd.grad(y, x, torch.eye(3), is_grads_batched=True)
    print("jacobian rows", jac.tolist())
    save_grads(gx=gx, jac=jac)
