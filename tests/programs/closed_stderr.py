"""A script that closes sys.stderr and exits normally gets exit code 0 (issue 11 item 5)."""

import sys

import torch
from corpus import save_grads

ARGS = ["--format", "json"]  # not -q: graphtrace has its summary to write


if __name__ == "__main__":
    x = torch.tensor(3.0, requires_grad=True)
    (x**2).backward()
    save_grads(x=x.grad)
    print("done", flush=True)
    sys.stderr.close()
