"""retain_graph twice, then a gradient penalty through create_graph (double backward)."""

import torch
from corpus import save_grads


def expect(run):
    assert len(run.passes) == 4
    assert [p["graph"]["kind"] for p in run.passes] == ["backward", "backward", "grad", "backward"]


if __name__ == "__main__":
    x = torch.tensor([0.5, -1.0, 2.0], requires_grad=True)
    y = (x.sin() * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    print("twice", [round(v, 6) for v in x.grad.tolist()])
    x.grad = None
    (g,) = torch.autograd.grad((x**3).sum(), x, create_graph=True)
    g.pow(2).sum().backward()
    print("penalty grad", x.grad.tolist())
    save_grads(x=x.grad)
