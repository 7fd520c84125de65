"""torch.autograd.functional: hessian, hvp and vhp."""

import torch
from corpus import save_grads
from torch.autograd.functional import hessian, hvp, vhp


def f(x):
    return (x.sin() * x**2).sum()


if __name__ == "__main__":
    x = torch.tensor([0.5, 1.0, 2.0])
    h = hessian(f, x)
    _, hv = hvp(f, x, torch.ones(3))
    _, vh = vhp(f, x, torch.ones(3))
    print("hessian diag", [round(v, 5) for v in h.diagonal().tolist()])
    save_grads(h=h, hv=hv, vh=vh)
