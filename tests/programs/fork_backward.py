"""Forked children run a backward and exit (sys.exit, os._exit): nobody hangs, each child's passes
go to its own pid-<pid>/ folder, the parent's files stay its own (issue 11 item 4)."""

import json
import os
import sys

import torch
from corpus import node, save_grads

ARGS = ["-q", "--format", "json,svg"]  # drawing threads exist before the forks


def expect(run):
    assert len(run.passes) == 2
    assert node(run.passes[1], "x")["grad_after"]["values"] == 16.0  # 4 + 3 * 2 ** 2
    assert all(n["name"] != "y" for p in run.passes for n in p["nodes"])  # no child's pass among them
    children = sorted(run.out.glob("pid-*"))
    assert len(children) == 2
    for folder in children:
        assert sorted(f.name for f in folder.iterdir()) == ["pass-001.json", "pass-001.svg"]
        child_pass = json.loads((folder / "pass-001.json").read_text())
        assert node(child_pass, "y")["grad_after"]["values"] == 3.0
        assert f"see {folder.name}/" in run.index


def child(how):
    y = torch.tensor(5.0, requires_grad=True)
    (y * 3).backward()
    code = 0 if y.grad.item() == 3.0 else 1
    if how == "exit":
        sys.exit(code)
    os._exit(code)


if __name__ == "__main__":
    x = torch.tensor(2.0, requires_grad=True)
    (x**2).backward()
    for how in ("exit", "_exit"):
        pid = os.fork()
        if pid == 0:
            child(how)
        _, status = os.waitpid(pid, 0)
        print("child", how, "exit code", os.waitstatus_to_exitcode(status), flush=True)
    (x**3).backward()
    save_grads(x=x.grad)
