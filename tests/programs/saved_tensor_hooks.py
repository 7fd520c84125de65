"""Saved-tensor hooks (as offloading code uses them): each unpack runs as often as without tracing."""

import torch
from corpus import save_grads

if __name__ == "__main__":
    calls = {"pack": 0, "unpack": 0}

    def pack(t):
        calls["pack"] += 1
        return t.clone()

    def unpack(t):
        calls["unpack"] += 1
        return t

    x = torch.tensor([0.5, 1.0, 2.0], requires_grad=True)
    with torch.autograd.graph.saved_tensors_hooks(pack, unpack):
        y = (x * x).sin().sum()
    y.backward()
    print(calls)
    save_grads(x=x.grad)
