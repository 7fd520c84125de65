"""A forked child runs a backward and exits: nobody hangs, the parent's files stay its own (issue 11 item 4)."""

import os
import sys

import torch
from corpus import node, save_grads

XFAIL = "issue 11 item 4"
ARGS = ["-q", "--format", "json,svg"]  # drawing threads exist before the fork


def expect(run):
    assert len(run.passes) == 2
    assert all(n["name"] != "y" for p in run.passes for n in p["nodes"])  # the child's pass is not the parent's
    assert node(run.passes[1], "x")["grad_after"]["values"] == 16.0  # 4 + 3 * 2 ** 2


if __name__ == "__main__":
    x = torch.tensor(2.0, requires_grad=True)
    (x ** 2).backward()
    pid = os.fork()
    if pid == 0:
        y = torch.tensor(5.0, requires_grad=True)
        (y * 3).backward()
        sys.exit(0 if y.grad.item() == 3.0 else 1)
    _, status = os.waitpid(pid, 0)
    print("child exit", os.waitstatus_to_exitcode(status), flush=True)
    (x ** 3).backward()
    save_grads(x=x.grad)
