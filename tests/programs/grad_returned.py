"""torch.autograd.grad: each input's returned gradient is its result, a sum and a step (issue 11 item 12)."""

import torch
from corpus import save_grads


def expect(run):
    leaf_pass, inner_pass = run.passes
    x = next(n for n in leaf_pass["nodes"] if n["name"] == "x")
    assert x["step"] == leaf_pass["graph"]["steps"] and x["grad_in"][0] == x["returned_grad"]
    assert round(x["returned_grad"]["values"], 4) == -1.3254
    h = next(n for n in inner_pass["nodes"] if n["name"] == "h")
    assert h["step"] is not None and round(h["grad_in"][0]["values"], 5) == 0.96017  # cos(6)


if __name__ == "__main__":
    x = torch.tensor(2.0, requires_grad=True)
    (gx,) = torch.autograd.grad(torch.cos(x) + torch.sin(x), x)
    h = x * 3
    (gh,) = torch.autograd.grad(torch.sin(h), h)
    print("grads", round(gx.item(), 4), round(gh.item(), 5))
    save_grads(gx=gx, gh=gh)
