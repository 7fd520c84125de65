"""graphtrace.cli.ranks: ``graphtrace run`` under a real two-process torchrun job (gloo), a folder per rank."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

import graphtrace
from graphtrace._errors import GraphtraceError
from graphtrace.cli.ranks import _difference, ranks_from_env

TRAIN = """\
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel as DDP

dist.init_process_group("gloo")
rank = dist.get_rank()
torch.manual_seed(0)
model = torch.nn.Linear(3, 1)
ddp = DDP(model)
x = torch.full((2, 3), float(rank + 1))
ddp(x).sum().backward()
print(f"rank {rank} weight.grad {model.weight.grad.tolist()}", flush=True)
with ddp.no_sync():
    ddp(x).sum().backward()
print(f"rank {rank} no_sync {model.weight.grad.tolist()}", flush=True)
dist.destroy_process_group()
"""


def test_ranks_come_from_torchruns_variables() -> None:
    assert ranks_from_env({}) is None
    assert ranks_from_env({"RANK": "1", "WORLD_SIZE": "2"}) == (1, 2)
    with pytest.raises(GraphtraceError, match="not below WORLD_SIZE"):
        ranks_from_env({"RANK": "2", "WORLD_SIZE": "2"})


def test_the_difference_across_ranks_is_exact_and_flagged_only_where_ddp_reduced() -> None:
    same = {"values": [[3.0, 3.0]], "norm": 4.2426}
    assert _difference([same, same], reduced=True) == "0"
    other = {"values": [[3.0, 5.0]], "norm": 5.831}
    assert "2 (ranks diverge)" in _difference([same, other], reduced=True) and 'class="bad"' in _difference(
        [same, other], reduced=True
    )
    assert "not all-reduced in this pass" in _difference([same, other], reduced=False)
    assert "no .grad on rank 1" in _difference([same, None], reduced=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _torchrun(folder: Path, *run_args: str) -> subprocess.CompletedProcess[str]:
    """``torchrun --nproc_per_node=2 -m graphtrace run RUN_ARGS`` on a free loopback port, bounded in time."""
    torchrun = str(Path(sys.executable).with_name("torchrun"))
    env = dict(os.environ, OMP_NUM_THREADS="1", MASTER_ADDR="127.0.0.1")
    argv = [torchrun, "--nproc_per_node=2", f"--master_port={_free_port()}", "--master_addr=127.0.0.1"]
    return subprocess.run(
        [*argv, "-m", "graphtrace", "run", *run_args], cwd=folder, env=env, capture_output=True, text=True, timeout=240
    )


@pytest.mark.slow
def test_torchrun_two_ranks_each_in_its_folder_with_the_all_reduce(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text(TRAIN)
    proc = _torchrun(tmp_path, "-o", "D", "train.py")
    assert proc.returncode == 0, proc.stderr[-2000:]
    # what the script sees: the mean of the ranks' local gradients (2 and 4), then local accumulation
    for rank in (0, 1):
        assert f"rank {rank} weight.grad [[3.0, 3.0, 3.0]]" in proc.stdout
    assert "rank 0 no_sync [[5.0, 5.0, 5.0]]" in proc.stdout and "rank 1 no_sync [[7.0, 7.0, 7.0]]" in proc.stdout
    out = tmp_path / "D"
    for rank, local in ((0, 2.0), (1, 4.0)):
        folder = out / f"rank-{rank}"
        assert (folder / "index.html").exists() and (folder / ".graphtrace").exists()
        first = graphtrace.load(folder / "pass-001.json").passes[0]
        assert (first.graph.graph["rank"], first.graph.graph["world_size"]) == (rank, 2)
        weight = first.node("model.weight")
        assert weight["reduced"]["local"]["values"] == [[local] * 3] and weight["reduced"]["world_size"] == 2
        assert weight["grad_after"]["values"] == [[3.0, 3.0, 3.0]]  # what the script sees
        second = graphtrace.load(folder / "pass-002.json").passes[0].node("model.weight")
        assert "reduced" not in second  # no_sync(): no all-reduce
        assert second["grad_after"]["values"] == [[3.0 + local] * 3]
        assert "all&#45;reduce across 2 ranks" in (folder / "pass-001.svg").read_text()  # dot writes - as &#45;
    index = (out / "index.html").read_text()
    assert 'href="rank-0/index.html"' in index and 'href="rank-1/index.html"' in index
    assert "<tr><td>1</td><td>model.weight</td><td>0</td></tr>" in index
    assert "2 (not all-reduced in this pass)" in index

    only_last = _torchrun(tmp_path, "--ranks", "-1", "-o", "E", "train.py")
    assert only_last.returncode == 0, only_last.stderr[-2000:]
    assert sorted(p.name for p in (tmp_path / "E").iterdir()) == [".graphtrace", "index.html", "rank-1"]
    assert "2 ranks, 1 traced" in (tmp_path / "E" / "index.html").read_text()


def test_ranks_option_counts_from_the_end_and_refuses_what_is_not_a_rank() -> None:
    from graphtrace.cli.ranks import chosen_ranks

    assert chosen_ranks(None, 4) == [0, 1, 2, 3]
    assert chosen_ranks("0,1,-1", 8) == [0, 1, 7]
    with pytest.raises(GraphtraceError, match="outside the job's 4 ranks"):
        chosen_ranks("4", 4)
    with pytest.raises(GraphtraceError, match="whole numbers"):
        chosen_ranks("0,last", 4)


FSDP = """\
import torch
import torch.distributed as dist
from torch.distributed.fsdp import fully_shard

dist.init_process_group("gloo")
rank = dist.get_rank()
torch.manual_seed(0)
model = torch.nn.Linear(4, 4, bias=False)
fully_shard(model)
x = torch.full((1, 4), float(rank + 1))
model(x).sum().backward()
print(f"rank {rank} shard {model.weight.to_local().tolist()} grad {model.weight.grad.to_local().tolist()}", flush=True)
dist.destroy_process_group()
"""


@pytest.mark.slow
def test_fsdp2_under_torchrun_each_leaf_says_which_shard_the_rank_holds(tmp_path: Path) -> None:
    (tmp_path / "fsdp.py").write_text(FSDP)
    proc = _torchrun(tmp_path, "-o", "D", "--format", "json,svg", "fsdp.py")
    assert proc.returncode == 0, proc.stderr[-2000:]
    whole = torch_weight()
    for rank in (0, 1):
        rows = whole[2 * rank : 2 * rank + 2]
        # what the script sees: its rows of the weight, and of the mean of the ranks' gradients (1 and 2)
        assert f"rank {rank} shard {rows} grad {[[1.5] * 4] * 2}" in proc.stdout
        weight = graphtrace.load(tmp_path / "D" / f"rank-{rank}" / "pass-001.json").passes[0].node("weight")
        shard = weight["shard"]
        assert (shard["index"], shard["count"], shard["dim"]) == (rank, 2, 0)
        assert (shard["local_shape"], shard["global_shape"], shard["placements"]) == ([2, 4], [4, 4], ["Shard(dim=0)"])
        assert shard["accumulated"]["values"] == [[float(rank + 1)] * 4] * 4  # the whole gradient, this rank's
        assert weight["grad_after"]["values"] == [[1.5] * 4] * 2  # the rank's shard of .grad after reduce-scatter
        assert weight["value"]["values"] == rows
        svg = (tmp_path / "D" / f"rank-{rank}" / "pass-001.svg").read_text()
        assert f"shard {rank} of 2 (dim 0), local [2, 4] of [4, 4]" in svg
        assert f"reduce&#45;scatter across 2 ranks → .grad shard {rank}" in svg
    assert "each rank holds its own shard" in (tmp_path / "D" / "index.html").read_text()


def torch_weight() -> list[list[float]]:
    """The weight ``torch.nn.Linear(4, 4, bias=False)`` gets after ``torch.manual_seed(0)``."""
    import torch

    torch.manual_seed(0)
    return torch.nn.Linear(4, 4, bias=False).weight.tolist()
