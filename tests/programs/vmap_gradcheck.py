"""gradcheck with batched gradients (vmap inside autograd.grad) and a logging dispatch mode."""

import torch
from corpus import save_grads
from torch.utils._python_dispatch import TorchDispatchMode


class Log(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.ops = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops.append(str(func))
        return func(*args, **(kwargs or {}))


if __name__ == "__main__":
    x = torch.tensor([0.1, 0.7, 1.3], dtype=torch.double, requires_grad=True)
    print(torch.autograd.gradcheck(torch.sin, x, check_batched_grad=True))
    w = torch.ones(3, requires_grad=True)
    with Log() as log:
        (w * 2).sum().backward()
    print(len(log.ops), log.ops)
    save_grads(w=w.grad)
