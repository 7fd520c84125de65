"""A script's own sys.excepthook is called for its uncaught exception (issue 11 item 5)."""

import sys

import torch
from corpus import save_grads


def hook(kind, value, tb):
    print(f"custom hook: {kind.__name__}: {value}", flush=True)


if __name__ == "__main__":
    sys.excepthook = hook
    x = torch.tensor(3.0, requires_grad=True)
    (x**2).backward()
    save_grads(x=x.grad)
    raise ValueError("bad batch")
