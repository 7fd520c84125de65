"""torch.func transforms (grad, vjp, jacrev, hessian, vmap of grad) beside an ordinary backward."""

import torch
from corpus import save_grads
from torch.func import grad, hessian, jacrev, vjp, vmap

STDERR = False  # graphtrace names the passes it could not draw
ARGS = ["--format", "json"]


def f(t):
    return torch.sin(t**3 + 4).sum()


def expect(run):
    assert len(run.passes) == 1 and run.passes[0]["graph"]["api"] == "Tensor.backward"
    assert "5 passes inside torch.func transforms were not drawn" in run.stderr


if __name__ == "__main__":
    x = torch.tensor([0.5, 1.0, 2.0])
    print(grad(f)(x))
    _, pullback = vjp(torch.sin, x)
    print(pullback(torch.ones(3)))
    print(jacrev(torch.sin)(x))
    print(hessian(f)(x))
    print(vmap(grad(lambda t: (t**2).sum()))(torch.ones(2, 3)))
    w = torch.tensor([1.0, 2.0], requires_grad=True)
    f(w).backward()
    save_grads(w=w.grad)
