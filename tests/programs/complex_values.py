"""Complex tensors: a real loss from a complex computation."""

import torch
from corpus import node, save_grads


def expect(run):
    (p,) = run.passes
    assert node(p, "z")["dtype"] == "complex64"


if __name__ == "__main__":
    z = torch.tensor([1 + 2j, 3 - 1j], requires_grad=True)
    w = torch.tensor([0.5 - 0.5j, 2 + 0j])
    loss = (z * w).abs().pow(2).sum()
    loss.backward()
    print("grad", z.grad.tolist())
    save_grads(z=z.grad)
