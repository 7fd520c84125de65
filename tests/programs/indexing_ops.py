"""gather, scatter_add and index_add in one loss."""

import torch
from corpus import save_grads


def expect(run):
    (p,) = run.passes
    names = {n["op"] for n in p["nodes"]}
    assert {"GatherBackward0", "ScatterAddBackward0", "IndexAddBackward0"} <= names


if __name__ == "__main__":
    src = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True)
    g = src.gather(1, torch.tensor([[2, 0], [1, 1]]))
    s = torch.zeros(2, 4).scatter_add(1, torch.tensor([[0, 3], [3, 3]]), g)
    a = torch.zeros(3, 4).index_add(0, torch.tensor([2, 0]), s * src.sum())
    (a**2).sum().backward()
    print("grad", src.grad.tolist())
    save_grads(src=src.grad)
