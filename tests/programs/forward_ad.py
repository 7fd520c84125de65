"""Forward-mode AD (dual numbers) next to one ordinary backward."""

import torch
import torch.autograd.forward_ad as fwAD
from corpus import save_grads


def expect(run):
    assert len(run.passes) == 1


if __name__ == "__main__":
    x = torch.tensor([0.5, 1.0, 2.0])
    with fwAD.dual_level():
        dual = fwAD.make_dual(x, torch.ones(3))
        tangent = fwAD.unpack_dual(torch.sin(dual**2)).tangent
    print("jvp", [round(v, 6) for v in tangent.tolist()])
    w = x.clone().requires_grad_()
    torch.sin(w**2).sum().backward()
    print("grad", [round(v, 6) for v in w.grad.tolist()])
    save_grads(tangent=tangent, w=w.grad)
