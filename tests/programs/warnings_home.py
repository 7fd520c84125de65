"""Torch's warnings point at the script's own lines, as under python (issue 18 item 6)."""

import warnings

import torch
import torch.nn.functional as F
from corpus import save_grads


def expect(run):
    lines = [line for line in run.stderr.splitlines() if "Warning:" in line]
    assert len(lines) == 5 and all("warnings_home.py:" in line for line in lines), run.stderr


def head(logits):
    return F.gumbel_softmax(logits, eps=1e-3)  # a deprecated argument: warns with stacklevel=2


if __name__ == "__main__":
    warnings.simplefilter("always")  # every warning, each with its file and line
    torch.manual_seed(0)
    x = torch.randn(2, 3, requires_grad=True)
    y = x * 2
    torch.tensor(y)  # torch's C++ warning: the innermost Python frame
    _ = y.grad  # a C++ warning from a tensor attribute
    p = F.softmax(y)  # an implicit dim: warns with stacklevel=3, through a helper
    q = head(x)
    r = F.dropout2d(x, 0.0)  # a 2-D input: stacklevel=2
    (p * q + r).sum().backward()
    save_grads(x=x.grad)
