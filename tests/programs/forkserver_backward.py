"""Children started by multiprocessing's forkserver method run backward and end (a return, an
exception): nobody hangs (the child's drawing threads were joined before its pictures were
allowed to start), and each child's passes are drawn into its own pid-<pid>/ folder as a spawned
child's are; the parent's own pass stays its own."""

import json
import multiprocessing as mp

import torch
from corpus import node, save_grads

ARGS = ["-q", "--format", "json,svg,html"]  # a child's pictures and page are drawn when it ends


def expect(run):
    assert len(run.passes) == 1 and node(run.passes[0], "x")["grad_after"]["values"] == 4.0  # the parent's own
    folders = sorted(p for p in run.out.iterdir() if p.is_dir())
    assert len(folders) == 2 and all(f.name.startswith("pid-") for f in folders), folders
    for folder in folders:  # whole, also for the child whose target raised
        files = ["index.html", "pass-001.html", "pass-001.json", "pass-001.svg", "run.json"]
        assert sorted(f.name for f in folder.iterdir()) == files
        child_pass = json.loads((folder / "pass-001.json").read_text())
        assert node(child_pass, "y")["grad_after"]["values"] == 3.0
        assert (folder / "pass-001.svg").read_text().rstrip().endswith("</svg>")
        assert f"see {folder.name}/" in run.index


def work(fail):
    y = torch.tensor(5.0, requires_grad=True)
    (y * 3).backward()
    print("child grad", y.grad.item(), flush=True)
    if fail:
        raise ValueError(f"the child's own error after y.grad={y.grad.item()}")


if __name__ == "__main__":
    ctx = mp.get_context("forkserver")
    x = torch.tensor(2.0, requires_grad=True)
    (x**2).backward()
    for fail in (False, True):
        child = ctx.Process(target=work, args=(fail,))
        child.start()
        child.join(50)  # a hung child fails the harness's bound, not this join
        print("exit code", child.exitcode, flush=True)
    save_grads(x=x.grad)
