"""Training from a DataLoader with two forked workers."""

import torch
from corpus import save_grads
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


def expect(run):
    assert len(run.passes) == 4


def main(context):
    torch.manual_seed(0)
    data = TensorDataset(torch.arange(32, dtype=torch.float32).reshape(16, 2) / 10, torch.arange(16) % 2)
    loader = DataLoader(data, batch_size=4, num_workers=2, multiprocessing_context=context)
    model = nn.Linear(2, 2)
    for xb, yb in loader:
        loss = nn.functional.cross_entropy(model(xb), yb)
        loss.backward()
        print(f"loss {loss.item():.6f}")
    save_grads(w=model.weight.grad, b=model.bias.grad)


if __name__ == "__main__":
    main("fork")
