"""graphtrace.cli.children: which folder a child process writes into, and what the parent says of them."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from graphtrace.cli.children import child_folders, child_rank, claim_folder
from graphtrace.cli.summary import summary
from graphtrace.cli.writer import Writer


def test_a_childs_rank_is_its_own_rank_or_process_group_never_the_parents(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RANK", raising=False)
    assert child_rank(None, None) is None
    assert child_rank(3, None) == 3  # torch.multiprocessing.spawn: init_process_group(rank=3), no RANK
    monkeypatch.setenv("RANK", "1")
    assert child_rank(None, None) == 1  # RANK set in the child
    assert child_rank(None, 1) is None  # RANK inherited from a torchrun parent
    assert child_rank(1, 1) is None  # and its process group
    assert child_rank(2, 1) == 2
    monkeypatch.setenv("RANK", "not a number")
    assert child_rank(True, None) is None


def test_a_rank_folder_is_taken_once_per_run_and_an_older_runs_files_are_replaced(tmp_path: Path) -> None:
    old = tmp_path / "rank-0"
    old.mkdir()
    (old / ".graphtrace").write_text("")
    (old / "pass-001.json").write_text("{}")
    (old / "notes.txt").write_text("the user's")
    before = time.time() - 100
    os.utime(old / "pass-001.json", (before, before))
    folder, held = claim_folder(tmp_path, 0, started=time.time() - 1)
    assert folder == old and held is not None
    assert sorted(p.name for p in old.iterdir()) == [".graphtrace", "notes.txt"]  # the earlier run's pass removed
    (old / "pass-001.json").write_text("{}")  # this run's child wrote its pass
    held.close()
    again, none = claim_folder(tmp_path, 0, started=time.time() - 1)
    assert again == tmp_path / f"pid-{os.getpid()}" and none is None  # a second rank 0 of this run
    assert (old / "pass-001.json").exists()
    assert claim_folder(tmp_path, None, 0.0) == (tmp_path / f"pid-{os.getpid()}", None)


def test_the_parent_without_passes_lists_its_childrens_folders(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    writer = Writer(tmp_path, ("json",))
    writer.started -= 1  # file times are coarser than time.time()
    for name, passes in (("pid-41", 1), ("rank-1", 2)):
        (tmp_path / name).mkdir()
        for n in range(1, passes + 1):
            (tmp_path / name / f"pass-00{n}.json").write_text("{}")
    writer.finish(title="t.py", command="graphtrace run t.py", notes=[])
    assert writer.children == [("pid-41", 1), ("rank-1", 2)]
    index = (tmp_path / "index.html").read_text()
    assert "A child process ran 1 backward pass: see pid-41/." in index
    assert "A child process ran 2 backward passes: see rank-1/." in index
    summary(writer, tmp_path)
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "graphtrace: no backward pass in the script's own process; its child processes ran some"
    assert lines[1].startswith("  a child process ran 1 pass: ") and lines[1].endswith("pid-41/")
    assert lines[2].startswith("  a child process ran 2 passes: ") and lines[2].endswith("rank-1/")


def test_a_spawned_childs_writer_claims_its_folder_at_the_first_pass_and_groups_repeats(tmp_path: Path) -> None:
    import torch

    import graphtrace

    passes = []
    x = torch.tensor(7.0, requires_grad=True)
    with graphtrace.trace(on_pass=passes.append, jacobians=False):
        for _ in range(25):
            torch.sin(x**3 + 4).backward()
    writer = Writer(tmp_path, ("json",))
    writer.claim_later(None, time.time() - 1)
    assert writer.out == tmp_path and list(tmp_path.iterdir()) == []  # nothing before a pass
    for p in passes:
        writer.add(p)
    writer.finish(title="t.py", command="graphtrace run t.py", notes=[])
    folder = tmp_path / f"pid-{os.getpid()}"
    assert writer.out == folder and sorted(p.name for p in tmp_path.iterdir()) == [folder.name]
    written = sorted(p.name for p in folder.iterdir())
    assert written == ["index.html", *(f"pass-{n:03}.json" for n in (*range(1, 22), 25)), "run.json"]
    assert child_folders(tmp_path, 0.0) == [(folder.name, 25)]  # the run's total, not its files
    last = json.loads((folder / "pass-025.json").read_text())
    x_after = next(n for n in last["nodes"] if n["name"] == "x")["grad_after"]["values"]
    assert round(x_after, 3) == 534.603  # 25 × 21.384121


def test_the_childrens_ranks_are_compared_in_ranks_html(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import torch

    import graphtrace

    writer = Writer(tmp_path, ("json",))
    writer.started -= 1
    for rank, at in ((0, 7.0), (1, 7.0), (2, 2.0)):  # rank 2's gradient differs (not all-reduced)
        x = torch.tensor(at, requires_grad=True)
        with graphtrace.trace(jacobians=False) as t:
            torch.sin(x**3 + 4).backward()
        (tmp_path / f"rank-{rank}").mkdir()
        (tmp_path / f"rank-{rank}" / "pass-001.json").write_text(t.passes[0].to_json())
    writer.finish(title="t.py", command="graphtrace run t.py", notes=[])
    assert writer.ranks_page == "ranks.html"
    page = (tmp_path / "ranks.html").read_text()
    assert "<h1>3 ranks</h1>" in page and "rank-0/ (no index)" in page
    # 3·49·cos(347) - 3·4·cos(12) = 21.384121 - 10.126247: no all-reduce, so grey, not red
    assert '<tr><td>1</td><td>x</td><td><span class="local">11.2579 (not all-reduced in this pass)</span>' in page
    assert "see ranks.html" in (tmp_path / "index.html").read_text()
    summary(writer, tmp_path)
    assert capsys.readouterr().err.splitlines()[-2].startswith("  their ranks compared: ")


FORKSERVER_CHILD = """
import sys
import threading
from multiprocessing import util

import torch

from graphtrace.cli.children import _traced

def bootstrap():  # BaseProcess._bootstrap in a child of the forkserver
    util._finalizer_registry.clear()  # _after_fork: the registry inherited from the server
    y = torch.tensor(5.0, requires_grad=True)
    (y * 3).backward()  # the target
    util._exit_function()
    threading._shutdown()  # the drawing threads are joined here
    return 7

run = dict(base=sys.argv[1], formats=["json", "svg", "html"], depth=None, max_passes=None, values=True,
           check=False, started=0.0, parent_rank=None, title="t.py", command="graphtrace run t.py")
print("exit code", _traced(run, bootstrap), flush=True)
"""


@pytest.mark.dot
def test_a_forkserver_childs_writer_finishes_before_its_threads_are_joined(tmp_path: Path) -> None:
    # NOTE [before threads are joined]: the exit finalizer registered before the target was cleared
    # with the rest of the registry, and the child hung in threading._shutdown
    import subprocess
    import sys

    script = tmp_path / "child.py"
    script.write_text(FORKSERVER_CHILD, encoding="utf-8")
    try:
        proc = subprocess.run([sys.executable, str(script), str(tmp_path)], capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        raise AssertionError("the child hung") from None
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "exit code 7\n", "")
    (folder,) = tmp_path.glob("pid-*")
    files = ["index.html", "pass-001.html", "pass-001.json", "pass-001.svg", "run.json"]
    assert sorted(p.name for p in folder.iterdir()) == files
    assert "<svg" in (folder / "pass-001.html").read_text()  # the page, written at the end, has the picture
