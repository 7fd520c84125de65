"""Children started by torch.multiprocessing.spawn (gloo ranks) and a spawn Process run backward;
each child's passes go to rank-<R>/ (its process group's rank, or RANK it set) or pid-<pid>/; the
parent ran none and its index lists the children (issue 16 item 1)."""

import json
import os
import socket
import sys
from datetime import timedelta

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from corpus import node

ARGS = ["-q", "--format", "json,svg,html"]  # a page is drawn when the child ends
GRADS = False  # the parent runs no backward; the children's gradients are printed (repr) instead


def expect(run):
    assert run.passes == []  # none in the parent's own process
    folders = sorted(p.name for p in run.out.iterdir() if p.is_dir())  # pid-<pid> sorts first
    assert len(folders) == 3 and folders[0].startswith("pid-") and folders[1:] == ["rank-0", "rank-1"], folders
    # rank 1 ends by sys.exit: its folder is whole; rank 0 by os._exit: its JSON was written at once
    files = [".graphtrace", "index.html", "pass-001.html", "pass-001.json", "pass-001.svg", "run.json"]
    assert sorted(f.name for f in (run.out / "rank-1").iterdir()) == files
    assert "pass-001.json" in {f.name for f in (run.out / "rank-0").iterdir()}
    for name, rank in (("rank-0", 0), ("rank-1", 1)):
        p = json.loads((run.out / name / "pass-001.json").read_text())
        assert (p["graph"]["rank"], p["graph"]["world_size"]) == (rank, 2)
        assert round(node(p, "x")["grad_after"]["values"], 6) == 21.384121  # d/dx sin(x**3 + 4) at x = 7
        assert f"see {name}/" in run.index
    ranks = (run.out / "ranks.html").read_text()  # the children's ranks compared
    assert 'href="rank-1/index.html"' in ranks and "<tr><td>1</td><td>x</td><td>0</td></tr>" in ranks
    assert "see ranks.html" in run.index
    p = json.loads((run.out / folders[0] / "pass-001.json").read_text())
    assert node(p, "y")["grad_after"]["values"] == 3.0
    assert sorted(f.name for f in (run.out / folders[0]).iterdir()) == files[1:]  # whole, though its target raised
    assert f"see {folders[0]}/" in run.index


def work(rank, port, results):
    if rank == 1:
        os.environ["RANK"] = "1"  # set inside the child, as scripts do; rank 0 has only its process group
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2, timeout=timedelta(seconds=60)
    )
    x = torch.tensor(7.0, requires_grad=True)
    torch.sin(x**3 + 4).backward()
    results.put((rank, repr(x.grad.item())))
    dist.barrier()
    dist.destroy_process_group()
    if rank == 0:
        os._exit(0)
    sys.exit(0)


def fails():
    y = torch.tensor(5.0, requires_grad=True)
    (y * 3).backward()
    raise ValueError(f"the child's own error after y.grad={y.grad.item()}")


if __name__ == "__main__":
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctx = mp.get_context("spawn")
    results = ctx.SimpleQueue()
    mp.spawn(work, args=(port, results), nprocs=2)
    print(sorted(results.get() for _ in range(2)))
    child = ctx.Process(target=fails)
    child.start()
    child.join(60)
    print("exit code", child.exitcode)
