"""In-place ops on views of a non-leaf tensor."""

import torch
from corpus import save_grads

if __name__ == "__main__":
    x = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True)
    y = x * 1.5
    y[0].mul_(2)
    y[:, 1].add_(x[:, 2])
    y.t()[2].sigmoid_()
    y.sum().backward()
    print("grad", x.grad.tolist())
    save_grads(x=x.grad)
