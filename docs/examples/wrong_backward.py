"""A custom Function whose backward is wrong by a factor, inside a small model: `graphtrace run --check` finds it."""
import torch

class Cube(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x ** 3

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * 2 * x ** 2  # should be 3 * x ** 2

torch.manual_seed(0)
lin = torch.nn.Linear(3, 2)
x = torch.tensor([0.5, -1.0, 2.0])
h = Cube.apply(torch.tanh(lin(x)))
loss = (h ** 2).sum()
loss.backward()
print("weight grad", lin.weight.grad)
