"""The run folder's files are render's files (``Pass.save`` writes the very same bytes); forked children's own."""

from __future__ import annotations

import math
import struct
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

import graphtrace
from graphtrace.cli.command import cli

LINSPACE = """
import torch
x = torch.linspace(-3.0, 3.0, 16, requires_grad=True)
y = torch.sin(x) * x
y.sum().backward()
"""


@pytest.mark.dot
@pytest.mark.parametrize("depth", [None, 1])
def test_pass_save_writes_the_files_graphtrace_run_writes(tmp_path: Path, depth: int | None) -> None:
    script = tmp_path / "prog.py"
    script.write_text(LINSPACE, encoding="utf-8")
    out = tmp_path / "out"
    depth_args = [] if depth is None else ["--depth", str(depth)]
    result = CliRunner().invoke(
        cli, ["run", "-q", "-f", "json,dot,svg,html", *depth_args, "-o", str(out), str(script)], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    (p,) = graphtrace.load(out / "pass-001.json").passes
    page = (out / "pass-001.html").read_text(encoding="utf-8")
    assert "gradient at x" in page  # the value chart (x against its gradient) is on the CLI's page
    options = {} if depth is None else {"depth": depth}
    for fmt in ("html", "svg", "dot"):
        saved = p.save(tmp_path / f"saved.{fmt}", **options)
        written = (out / f"pass-001.{fmt}").read_bytes()
        if fmt == "html":  # the same page, but in a run folder it links the index (NOTE [pass page links])
            nav = b'<nav><a id="gt-index-pass" href="index.html">all passes</a></nav>'
            assert nav in written
            written = written.replace(nav, b"", 1)
        assert saved.read_bytes() == written, fmt


def test_a_forked_child_writes_its_passes_into_its_own_folder_and_never_hangs(tmp_path: Path) -> None:
    import os
    import select
    import signal

    from graphtrace.cli.writer import Writer

    x = torch.tensor(2.0, requires_grad=True)
    passes = []
    with graphtrace.trace(on_pass=passes.append) as t:
        (x**2).backward()
        (x**3).backward()
    writer = Writer(tmp_path, ("json", "dot"))
    writer.add(passes[0])  # its drawing thread exists in this process only
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: one pass, then the end of graphtrace run's path
        try:
            writer.add(passes[1])
            writer.finish(title="t", command="c", notes=[])
            os.write(write, f"{writer.child} {sorted(os.listdir(writer.out))}".encode())
        finally:
            os._exit(0)
    os.close(write)
    ready, _, _ = select.select([read], [], [], 30)
    report = os.read(read, 1000).decode() if ready else "the child hung"
    if not ready:
        os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    os.close(read)
    assert report == "True ['pass-001.dot', 'pass-001.json']"
    writer.finish(title="t", command="c", notes=[])
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "index.html",
        "pass-001.dot",
        "pass-001.json",
        f"pid-{pid}",
        "run.json",
    ]
    assert f"see pid-{pid}/" in (tmp_path / "index.html").read_text()
    assert len(t.passes) == 2


def test_the_drawing_threads_leave_ctrl_c_and_sigterm_to_the_main_thread(tmp_path: Path) -> None:
    # NOTE [signals reach the main thread]: a Ctrl-C landing on a drawing thread waited for the
    # script's time.sleep(20) to end (measured: 20.6 s instead of 0.7 s, 1 run in 6)
    import signal

    from graphtrace.cli.writer import Writer

    writer = Writer(tmp_path, ("json",))
    try:
        assert writer._pool is not None
        blocked = writer._pool.submit(signal.pthread_sigmask, signal.SIG_BLOCK, []).result(timeout=60)
    finally:
        writer.finish(title="t.py", command="graphtrace run t.py", notes=[])
    assert {signal.SIGINT, signal.SIGTERM} <= blocked
    assert signal.SIGINT not in signal.pthread_sigmask(signal.SIG_BLOCK, [])  # the main thread's own mask is untouched


UNFINISHED = """
import sys
from pathlib import Path

import torch

import graphtrace
from graphtrace.cli.writer import Writer

x = torch.tensor(2.0, requires_grad=True)
with graphtrace.trace() as t:
    (x**2).backward()
writer = Writer(Path(sys.argv[1]), ("json", "svg"))  # no drawer: its drawing thread waits for the end
writer.add(t.passes[0])
print("no finish", flush=True)
"""


@pytest.mark.dot
def test_a_writer_whose_end_never_came_does_not_hold_its_process_at_the_exit(tmp_path: Path) -> None:
    # NOTE [before threads are joined]: a forkserver child's writer lost its end and the child
    # hung in threading._shutdown, joining a drawing thread that waited for that end
    import subprocess
    import sys

    script = tmp_path / "prog.py"
    script.write_text(UNFINISHED, encoding="utf-8")
    try:
        proc = subprocess.run(
            [sys.executable, str(script), str(tmp_path / "out")], capture_output=True, text=True, timeout=60
        )
    except subprocess.TimeoutExpired:
        raise AssertionError("the process hung at its exit") from None
    assert (proc.returncode, proc.stdout) == (0, "no finish\n"), proc.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["pass-001.json", "pass-001.svg"]
    assert (tmp_path / "out" / "pass-001.svg").read_text().rstrip().endswith("</svg>")  # drawn before the exit


def test_a_group_is_recorded_in_full_at_its_1st_2nd_4th_and_every_1024th_pass(tmp_path: Path) -> None:
    from graphtrace.cli.index import in_full
    from graphtrace.cli.writer import Writer

    assert [m for m in range(1, 5000) if in_full(m)] == [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 3072, 4096]
    writer = Writer(tmp_path / "out", ("json",), always=2)
    w = torch.tensor([1.0, -2.0], requires_grad=True)
    with graphtrace.trace(
        keep=False, on_pass=writer.add, count_only=writer.count_only, on_counted=writer.add_counted
    ) as t:
        for _ in range(12):
            (w * 3).sum().backward()
    writer.finish(title="t", command="t", notes=[], progress=None)
    assert t.count == 12 and writer.count == 12
    # after the first 2, group 3..12: members 1, 2, 4 and 8 (passes 3, 4, 6, 10) recorded in full
    (group,) = writer.groups.values()
    assert (group.first, group.last, group.count, group.drawn, group.counted) == (3, 12, 10, [3, 10], 6)
    assert sorted(p.name for p in (tmp_path / "out").glob("pass-*.json")) == [
        "pass-001.json",
        "pass-002.json",
        "pass-003.json",
        "pass-010.json",
    ]
    # grad [3, 3] in each of the 12 passes: rms |[3, 3]| / sqrt(2), the norm as float32 gives it; max 3
    ((name, rms, top, passes),) = writer.stats.table()
    assert (name, top, passes) == ("w", 3.0, 12)
    assert rms == pytest.approx(struct.unpack("f", struct.pack("f", math.sqrt(18)))[0] / math.sqrt(2), rel=1e-12)
    writer.child = True  # a forked child's copy writes every pass
    assert not writer.count_only(13, group.signature)


def test_counted_passes_extend_their_run_and_group_and_make_an_entry_only_where_a_run_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from graphtrace.cli.index import Entry
    from graphtrace.cli.writer import Writer
    from graphtrace.model import Counted

    made: list[int] = []
    entry_of_counted = Entry.counted
    monkeypatch.setattr(Entry, "counted", classmethod(lambda cls, n, c: made.append(n) or entry_of_counted(n, c)))
    grad = {"shape": [2], "dtype": "float32", "numel": 2, "values": [3.0, -4.0], "norm": 5.0, "min": -4.0, "max": 3.0}
    writer = Writer(tmp_path / "out", ("json",), always=0)
    for i, sig in enumerate(["s"] * 5 + ["t", "t", "s"], start=1):
        c = Counted(i, "backward", "Tensor.backward", "t.py:3", "", sig, 3, [[]], grads=[("w", True, grad)])
        writer.add_counted(c)
    writer.finish(title="t", command="t", notes=[], progress=None)
    assert [r[:2] for r in writer.runs] == [[1, 5], [6, 7], [8, 8]] and made == [1, 6, 8]
    assert [(g.signature, g.first, g.last, g.count, g.counted) for g in writer.groups.values()] == [
        ("s", 1, 8, 6, 6),
        ("t", 6, 7, 2, 2),
    ]
    assert writer.stats.table() == [("w", 5.0 / math.sqrt(2), 4.0, 8)]
