"""sys.exit with a huge number gives what Python gives (issue 11 item 5)."""

import sys

import torch
from corpus import save_grads

if __name__ == "__main__":
    x = torch.tensor(3.0, requires_grad=True)
    (x**2).backward()
    save_grads(x=x.grad)
    print("exiting", flush=True)
    sys.exit(2**70)
