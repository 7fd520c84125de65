"""Loss-scaling code that wraps Tensor.backward: the wrapper runs once (issue 11 item 3)."""

import torch
from corpus import node, save_grads


def expect(run):
    assert len(run.passes) == 1
    x = node(run.passes[0], "x")
    assert x["grad_after"]["values"] == [12.0, 12.0]


if __name__ == "__main__":
    calls = []
    orig = torch.Tensor.backward

    def scaled_backward(self, *args, **kwargs):
        calls.append(1)
        return orig(self * 2, *args, **kwargs)

    torch.Tensor.backward = scaled_backward
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    loss = (x * 6).sum()
    loss.backward()
    print("wrapper calls", len(calls), "grad", x.grad.tolist())
    save_grads(x=x.grad)
