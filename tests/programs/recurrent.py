"""An LSTM and a GRU over a short sequence."""

import torch
from corpus import save_grads
from torch import nn


def expect(run):
    assert len(run.passes) == 2


if __name__ == "__main__":
    torch.manual_seed(0)
    lstm, gru = nn.LSTM(3, 4, batch_first=True), nn.GRU(3, 4, batch_first=True)
    x = torch.randn(2, 5, 3)
    for rnn in (lstm, gru):
        out, _ = rnn(x)
        out[:, -1].pow(2).sum().backward()
        print(type(rnn).__name__, f"{out.sum().item():.5f}")
    save_grads(
        **{f"lstm.{n}": p.grad for n, p in lstm.named_parameters()},
        **{f"gru.{n}": p.grad for n, p in gru.named_parameters()},
    )
