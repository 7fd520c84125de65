"""A script stopped by an uncaught KeyboardInterrupt ends as Python ends it: its atexit handlers
run, then the process dies by SIGINT (a parent sees -2, a shell's loop stops), not exit code 130."""

import atexit

import torch
from corpus import save_grads


def expect(run):
    assert run.code == -2  # as the plain run (the harness compares the codes)
    (p,) = run.passes
    assert p["graph"]["error"] == ""


if __name__ == "__main__":
    atexit.register(print, "atexit ran")
    w = torch.tensor([0.5, -1.5], requires_grad=True)
    (w * w).sum().backward()
    save_grads(w=w.grad)
    print("w.grad", w.grad.tolist(), flush=True)
    raise KeyboardInterrupt  # as a Ctrl-C while the script runs
