"""A model that checkpoints one of its blocks (reentrant): the recomputed block's parameters are
named as the model names them, like the rest of the pass (issue 11 items 13 and 15)."""

import torch
from corpus import save_grads
from torch import nn
from torch.utils.checkpoint import checkpoint


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.inner = nn.Linear(3, 3)

    def forward(self, x):
        return torch.tanh(self.inner(x))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.first = Block()
        self.second = Block()
        self.head = nn.Linear(3, 1)

    def forward(self, x):
        x = checkpoint(self.first, x, use_reentrant=True)
        return self.head(self.second(x))


def expect(run):
    (p,) = run.passes
    params = sorted(n["param"] for n in p["nodes"] if n["param"])
    assert params == [
        "first.inner.bias",
        "first.inner.weight",
        "head.bias",
        "head.weight",
        "second.inner.bias",
        "second.inner.weight",
    ]
    inner = {n["param"] for n in p["nodes"] if n.get("nested_in") is not None and n["param"]}
    assert inner == {"first.inner.bias", "first.inner.weight"}
    modules = {n["module"] for n in p["nodes"] if n.get("nested_in") is not None and n["kind"] == "op"}
    assert "first.inner" in modules  # the recomputed ops ran in the model's own block


if __name__ == "__main__":
    torch.manual_seed(0)
    net = Net()
    x = torch.randn(2, 3, requires_grad=True)
    net(x).sum().backward()
    print("x.grad", [round(v, 5) for v in x.grad.flatten().tolist()])
    save_grads(x=x.grad, **{n: p.grad for n, p in net.named_parameters()})
