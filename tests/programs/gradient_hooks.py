"""Hooks that change gradients: a tensor hook, module backward hooks, a post-accumulate hook (issue 11 item 11)."""

import torch
from corpus import save_grads
from torch import nn


def expect(run):
    (p,) = run.passes
    found = [(h["kind"], h["before"]["values"], h["after"]["values"]) for n in p["nodes"] for h in n.get("hooks", [])]
    assert ("tensor", [6.0, 12.0], [60.0, 120.0]) in found  # y's hook: [6, 12] -> [60, 120], then x3
    assert ("module", [[240.0]], [[24.0]]) in found  # the layer's backward pre-hook
    assert ("post_accumulate", [[24.0, 48.0]], [[6.0, 12.0]]) in found
    y = next(n for n in p["nodes"] if n["name"] == "y")
    assert y["grad_in"][0]["values"] == [60.0, 120.0]


if __name__ == "__main__":
    lin = nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[1.0, 2.0]]))
    lin.register_full_backward_pre_hook(lambda m, gout: (gout[0] / 10,))

    def shrink(p):
        p.grad.div_(4)

    lin.weight.register_post_accumulate_grad_hook(shrink)
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    y.register_hook(lambda g: g * 10)
    c = torch.tensor([[1.0, 2.0]], requires_grad=True)
    z = y.pow(2).sum() + lin(c).sum() * 240
    z.backward()
    print("x.grad", x.grad.tolist(), "weight.grad", lin.weight.grad.tolist(), "c.grad", c.grad.tolist())
    save_grads(x=x.grad, weight=lin.weight.grad, c=c.grad)
