"""The installed ``graphtrace`` console script in subprocesses: real exit codes, signals, PATH, no torch."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import graphtrace

GRAPHTRACE = str(Path(sys.executable).with_name("graphtrace"))
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}

TWO_PASSES = """
import sys, time, torch
x = torch.tensor(2.0, requires_grad=True)
(x * x).backward()
(x ** 3).backward()
print("two passes done", flush=True)
{tail}
"""


def gt(*args: str, cwd: Path | None = None, env: dict | None = None, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [GRAPHTRACE, *args], cwd=cwd, env=env or ENV, capture_output=True, text=True, timeout=120, **kw
    )


def write(tmp_path: Path, text: str, name: str = "prog.py") -> str:
    (tmp_path / name).write_text(text)
    return name


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_version_from_the_script_and_python_dash_m() -> None:
    assert gt("--version").stdout == f"graphtrace {graphtrace.__version__}\n"
    proc = subprocess.run([sys.executable, "-m", "graphtrace", "--version"], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout == f"graphtrace {graphtrace.__version__}\n"


@pytest.mark.dot
def test_sys_exit_keeps_the_code_and_the_passes(tmp_path: Path) -> None:
    proc = gt("run", "-o", "out", write(tmp_path, TWO_PASSES.format(tail="sys.exit(3)")), cwd=tmp_path)
    assert proc.returncode == 3, proc.stderr
    assert proc.stdout == "two passes done\n"
    assert listing(tmp_path / "out") == [
        ".graphtrace",
        "index.html",
        "pass-001.html",
        "pass-001.json",
        "pass-001.svg",
        "pass-002.html",
        "pass-002.json",
        "pass-002.svg",
        "run.json",
    ]
    p2 = json.loads((tmp_path / "out" / "pass-002.json").read_text())
    assert p2["graph"]["call_site"] == "prog.py:5"  # relative to the working folder
    assert next(n for n in p2["nodes"] if n["name"] == "x")["grad_after"]["values"] == 16.0  # 4 + 3x**2


REAP = """
import os, time, torch
x = torch.tensor(2.0, requires_grad=True)
for _ in range(3):
    (x.sin() * x).backward()
time.sleep(0.5)  # was: long enough for the drawings to end (NOTE [dot after the script]: now none runs here)
if os.fork() == 0:
    os._exit(0)
reaped = 0
while True:
    try:
        os.wait()
        reaped += 1
    except ChildProcessError:
        break
print("reaped", reaped, round(x.grad.item(), 6))
"""


@pytest.mark.dot
def test_a_script_reaping_its_children_sees_only_its_own(tmp_path: Path) -> None:
    # a dot kept running in the script's process was a child it did not start: this loop waited forever
    plain = subprocess.run([sys.executable, write(tmp_path, REAP)], cwd=tmp_path, capture_output=True, text=True)
    assert plain.stdout == "reaped 1 0.231011\n"  # (2 cos 2 + sin 2) x 3 passes
    proc = gt("run", "-q", "-o", "out", "prog.py", cwd=tmp_path)
    assert (proc.returncode, proc.stdout) == (0, plain.stdout), proc.stderr
    assert "pass-003.svg" in listing(tmp_path / "out")


WATCH = """
import os, time, torch
x = torch.tensor(0.5, requires_grad=True)
for _ in range(3):
    y = x
    for _ in range(150):
        y = torch.sin(y) * 1.01
    y.backward()
seen = 0  # polls that found a child of this process (it never starts one)
for _ in range(40):
    try:
        os.waitpid(-1, os.WNOHANG)
        seen += 1
    except ChildProcessError:
        pass
    time.sleep(0.05)
print("children seen", seen, round(x.grad.item(), 6))
"""


@pytest.mark.dot
def test_no_child_of_ours_while_the_script_runs(tmp_path: Path) -> None:
    # NOTE [dot after the script]: a dot started by a drawing thread was a child the script could reap
    plain = subprocess.run([sys.executable, write(tmp_path, WATCH)], cwd=tmp_path, capture_output=True, text=True)
    assert plain.stdout.startswith("children seen 0 "), plain.stderr
    proc = gt("run", "-q", "-o", "out", "prog.py", cwd=tmp_path)
    assert (proc.returncode, proc.stdout) == (0, plain.stdout), proc.stderr
    assert {"pass-003.svg", "pass-003.html"} <= set(listing(tmp_path / "out"))


EXIT_SOON = """
import os, sys, time, torch
x = torch.tensor(2.0, requires_grad=True)
(x * x).backward()
(x ** 3).backward()
svg, t0 = os.path.join("out", "pass-002.svg"), time.monotonic()
while not os.path.exists(svg) and time.monotonic() - t0 < 30:
    time.sleep(0.05)
print("drawn while running:", os.path.exists(svg), flush=True)
os._exit(3)
"""


def _drawers_alive(marker: str) -> list[int]:
    """Pids of live drawers (NOTE [drawer]) forked from a command line naming ``marker``."""
    alive = []
    for proc in Path("/proc").iterdir():
        try:
            if (proc / "comm").read_text() != "graphtrace-dot\n" or marker not in (proc / "cmdline").read_text():
                continue
            if (proc / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
                alive.append(int(proc.name))
        except (OSError, ValueError):
            continue
    return alive


@pytest.mark.dot
def test_pictures_are_drawn_while_the_script_runs_and_kept_after_os_exit(tmp_path: Path) -> None:
    # NOTE [drawer]: before it, dot ran only after the script, and a script ending in os._exit got no picture
    proc = gt("run", "-q", "-o", str(tmp_path / "out"), write(tmp_path, EXIT_SOON), cwd=tmp_path)
    assert (proc.returncode, proc.stdout, proc.stderr) == (3, "drawn while running: True\n", "")
    files = set(listing(tmp_path / "out"))  # pass-001.html too, if its page was done (its neighbour came)
    assert {"pass-001.json", "pass-001.svg", "pass-002.json", "pass-002.svg"} <= files and "index.html" not in files
    again = gt("render", "-q", "-f", "svg", "-o", "again", "out/pass-002.json", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    drawn = (tmp_path / "out" / "pass-002.svg").read_bytes()
    assert drawn == (tmp_path / "again" / "pass-002.svg").read_bytes()
    assert b".grad 4 + 12 = 16" in drawn  # 2x, then 3x**2, at x = 2
    for _ in range(100):  # its socket closed with the process: the drawer ends
        if not _drawers_alive(str(tmp_path)):
            break
        time.sleep(0.1)
    assert _drawers_alive(str(tmp_path)) == []


CLOSE_ALL = """
import atexit, os, torch
os.closerange(3, 65536)  # a script closing what it did not open, then opening its own files
files = [os.open(f"f{k}.txt", os.O_WRONLY | os.O_CREAT | os.O_TRUNC) for k in range(4)]
x = torch.tensor(2.0, requires_grad=True)
for _ in range(3):
    (x * x).backward()
atexit.register(lambda: [os.write(fd, b"bye") for fd in files])
print(sorted(files), x.grad.item())
"""


@pytest.mark.dot
def test_descriptors_the_script_reopened_are_never_closed_by_us(tmp_path: Path) -> None:
    # NOTE [a descriptor the script reuses]: the folder's lock and the drawer's socket had numbers 3 and 4
    plain = subprocess.run([sys.executable, write(tmp_path, CLOSE_ALL)], cwd=tmp_path, capture_output=True, text=True)
    assert (plain.returncode, plain.stdout, plain.stderr) == (0, "[3, 4, 5, 6] 12.0\n", "")
    assert [(tmp_path / f"f{k}.txt").read_bytes() for k in range(4)] == [b"bye"] * 4
    proc = gt("run", "-q", "-o", str(tmp_path / "out"), "prog.py", cwd=tmp_path)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, plain.stdout, "")
    assert [(tmp_path / f"f{k}.txt").read_bytes() for k in range(4)] == [b"bye"] * 4
    assert {"pass-003.svg", "index.html"} <= set(listing(tmp_path / "out"))


SUBREAPER = """
import ctypes, os, sys
assert ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER
os.execv(sys.argv[1], sys.argv[1:])  # the attribute stays across exec
"""


@pytest.mark.dot
def test_where_orphans_come_back_to_the_script_dot_waits_for_its_end(tmp_path: Path) -> None:
    # NOTE [drawer]: a subreaper gets its orphans back: a drawer would be a child the script could reap
    plain = subprocess.run([sys.executable, write(tmp_path, REAP)], cwd=tmp_path, capture_output=True, text=True)
    wrapper = write(tmp_path, SUBREAPER, "subreaper.py")
    proc = subprocess.run(
        [sys.executable, wrapper, GRAPHTRACE, "run", "-q", "-o", "out", "prog.py"],
        cwd=tmp_path,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (proc.returncode, proc.stdout) == (0, plain.stdout) == (0, "reaped 1 0.231011\n"), proc.stderr
    assert {"pass-003.svg", "pass-003.html", "index.html"} <= set(listing(tmp_path / "out"))


def test_sigterm_writes_the_passes_and_the_index_then_ends_as_plain_python(tmp_path: Path) -> None:
    script = write(tmp_path, TWO_PASSES.format(tail="time.sleep(60)"))
    plain = subprocess.Popen(
        [sys.executable, script], cwd=tmp_path, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    traced = subprocess.Popen(
        [GRAPHTRACE, "run", "-f", "json", "-o", "out", script],
        cwd=tmp_path,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    for proc in (plain, traced):
        assert proc.stdout.readline() == "two passes done\n"
        proc.send_signal(signal.SIGTERM)
    _, plain_err = plain.communicate(timeout=300)
    _, err = traced.communicate(timeout=300)
    assert traced.returncode == plain.returncode == -signal.SIGTERM  # a shell shows 143 for both
    assert plain_err == "" and "Traceback" not in err
    assert err.startswith("graphtrace: 2 backward passes, 2 written to out/"), err
    assert listing(tmp_path / "out") == [".graphtrace", "index.html", "pass-001.json", "pass-002.json", "run.json"]
    assert "stopped by SIGTERM after 2 passes" in (tmp_path / "out" / "index.html").read_text()


@pytest.mark.dot
def _ctrl_c_as_in_a_terminal() -> None:
    # A suite started in the background by a shell without job control (nohup ... &, some CI
    # runners) ignores SIGINT, and a python started so ignores Ctrl-C too, with or without
    # graphtrace (seen: the child's SigIgn had SIGINT set). The child gets a terminal's default.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_ends_as_python_ends_and_keeps_the_passes(tmp_path: Path, our_frames) -> None:
    script = write(tmp_path, TWO_PASSES.format(tail="time.sleep(60)"))
    proc = subprocess.Popen(
        [GRAPHTRACE, "run", "-o", "out", script],
        cwd=tmp_path,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_ctrl_c_as_in_a_terminal,
    )
    assert proc.stdout.readline() == "two passes done\n"
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=300)
    assert proc.returncode == -signal.SIGINT, err  # as python: killed by SIGINT (a shell shows 130)
    assert err.startswith("Traceback (most recent call last):") and "KeyboardInterrupt" in err
    assert our_frames(err, tmp_path) == []
    assert {"index.html", "pass-001.svg", "pass-002.html", "pass-002.json"} <= set(listing(tmp_path / "out"))
    assert "interrupted (Ctrl-C) after 2 passes" in (tmp_path / "out" / "index.html").read_text()


def test_uncaught_exception_shows_only_the_users_frames(tmp_path: Path) -> None:
    tail = "def load():\n    raise FileNotFoundError('data.csv')\nload()"
    proc = gt("run", "-f", "json", "-o", "out", write(tmp_path, TWO_PASSES.format(tail=tail)), cwd=tmp_path)
    assert proc.returncode == 1
    lines = proc.stderr.splitlines()
    assert lines[0] == "Traceback (most recent call last):"
    assert [ln.strip() for ln in lines if ln.strip().startswith("File ")] == [
        f'File "{tmp_path / "prog.py"}", line 9, in <module>',
        f'File "{tmp_path / "prog.py"}", line 8, in load',
    ]
    assert "FileNotFoundError: data.csv" in proc.stderr
    assert listing(tmp_path / "out") == [".graphtrace", "index.html", "pass-001.json", "pass-002.json", "run.json"]


ENGINE_ERROR = """
import torch
torch.manual_seed(0)
net = torch.nn.Sequential(torch.nn.Linear(4, 1), torch.nn.Sigmoid())
opt = torch.optim.SGD(net.parameters(), lr=0.1)
x, label = torch.randn(8, 4), torch.ones(8)
def loss_of():
    return torch.nn.BCELoss()(net(x).squeeze(1), label)
for step in range({steps}):  # 30 identical steps: the trace runs lean (NOTE [lean steady state])
    opt.zero_grad()
    {learn}
    opt.step()
print("steps done", flush=True)
loss = loss_of()
{fault}
"""
BACKWARD, GRAD = "loss_of().backward()", "torch.autograd.grad(loss_of(), list(net.parameters()))"
# the mistakes torch's engine raises: (a step of the loop, the faulty step); after the loop, the
# in-place cases are seen lean by the engine wrapper, the second calls of the others by the mode
ENGINE_ERRORS = {
    "backward after in-place": (BACKWARD, "label.fill_(0.0)  # saved by BCELoss\nloss.backward()"),
    "backward twice": (BACKWARD, "loss.backward()\nloss.backward()"),
    "grad after in-place": (GRAD, "label.fill_(0.0)\ntorch.autograd.grad(loss, net[0].weight)"),
    "grad twice": (GRAD, "torch.autograd.grad(loss, net[0].weight)\ntorch.autograd.grad(loss, net[0].weight)"),
}


@pytest.mark.parametrize("steps", [0, 30], ids=["first pass", "lean"])
@pytest.mark.parametrize("case", ENGINE_ERRORS)
def test_an_error_torchs_engine_raises_is_pythons_traceback(tmp_path: Path, case: str, steps: int) -> None:
    learn, fault = ENGINE_ERRORS[case]
    name = write(tmp_path, ENGINE_ERROR.format(steps=steps, learn=learn, fault=fault))
    plain, proc = (  # one interpreter: torch's files by the same path in both tracebacks
        subprocess.run(
            [sys.executable, *args, name], cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=120
        )
        for args in ([], ["-m", "graphtrace", "run", "-q", "-f", "json", "-o", "out"])
    )
    assert plain.returncode == 1 and "RuntimeError: " in plain.stderr, plain.stderr
    assert (proc.returncode, proc.stdout, proc.stderr) == (1, plain.stdout, plain.stderr)


def test_no_backward_is_one_line_and_exit_0(tmp_path: Path) -> None:
    proc = gt("run", write(tmp_path, "import torch\nprint(torch.ones(2).sum().item())\n"), cwd=tmp_path)
    assert (proc.returncode, proc.stdout) == (0, "2.0\n")
    assert proc.stderr == "graphtrace: prog.py ran no backward pass; nothing to draw\n"
    assert not (tmp_path / "outputs").exists()


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path) -> None:
    (tmp_path / "img.py").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00")
    (tmp_path / "syntax.py").write_text("for x in range(3)\n    print(x)\n")
    (tmp_path / "ok.py").write_text("print(1)\n")
    (tmp_path / "file").write_text("")
    cases = {
        ("run", "missing.py"): "graphtrace: error: missing.py: no such file\n",
        ("run", "."): "graphtrace: error: . is a folder; give the Python script to run\n",
        ("run", "img.py"): "graphtrace: error: img.py is not a Python script (it is a binary file)\n",
        ("run", "-f", "jpeg", "ok.py"): "graphtrace: error: unknown format 'jpeg' (choose from svg, png, pdf, "
        "dot, json, html)\n",
        ("run", "-o", "file/out", "ok.py"): "graphtrace: error: cannot write to file/out: Not a directory\n",
        ("run", "syntax.py"): "graphtrace: error: syntax.py:1:18: SyntaxError: expected ':'\n",
        ("render", "ok.py"): "graphtrace: error: ok.py is not valid JSON: Expecting value: line 1 column 1 (char 0)\n",
    }
    for args, message in cases.items():
        proc = gt(*args, cwd=tmp_path)
        assert (proc.returncode, proc.stdout, proc.stderr) == (2, "", message), args


def test_missing_dot_writes_json_and_dot_and_says_how_to_install(tmp_path: Path) -> None:
    env = {**ENV, "PATH": str(tmp_path / "no-graphviz")}
    proc = gt(
        "run",
        "-f",
        "svg,json,dot,html",
        "-o",
        "out",
        write(tmp_path, TWO_PASSES.format(tail="")),
        cwd=tmp_path,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    assert listing(tmp_path / "out") == [
        ".graphtrace",
        "index.html",
        "pass-001.dot",
        "pass-001.json",
        "pass-002.dot",
        "pass-002.json",
        "run.json",
    ]
    assert "graphtrace: warning: no pictures drawn" in proc.stderr
    assert "install it (Debian/Ubuntu: apt-get install graphviz" in proc.stderr


BLOCK_TORCH = """
import sys
class NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("torch is blocked in this test")
sys.meta_path.insert(0, NoTorch())
sys.argv = ["graphtrace", *sys.argv[1:]]
from graphtrace.cli.command import cli
try:
    cli.main(prog_name="graphtrace")
finally:
    assert not any(m == "torch" or m.startswith("torch.") for m in sys.modules), "torch was imported"
"""


@pytest.mark.dot
def test_render_never_imports_torch(tmp_path: Path) -> None:
    assert (
        gt(
            "run", "-q", "-f", "json", "-o", "saved", write(tmp_path, TWO_PASSES.format(tail="")), cwd=tmp_path
        ).returncode
        == 0
    )
    graphtrace.Trace([p for n in (1, 2) for p in graphtrace.load(tmp_path / f"saved/pass-00{n}.json")]).save(
        tmp_path / "trace.json"
    )
    proc = subprocess.run(
        [sys.executable, "-c", BLOCK_TORCH, "render", "trace.json", "-o", "again", "-f", "svg,png,pdf,dot,html,json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=ENV,
    )
    assert proc.returncode == 0, proc.stderr
    assert "2 backward passes, 2 written to again/" in proc.stderr
    assert len(listing(tmp_path / "again")) == 15  # 2 passes x 6 formats, index.html, run.json, .graphtrace
    assert "16" in (tmp_path / "again" / "pass-002.svg").read_text()
    # the saved JSON comes back byte for byte
    assert (tmp_path / "again/pass-002.json").read_bytes() == (tmp_path / "saved/pass-002.json").read_bytes()


def test_undecodable_names_and_arguments_behave_as_under_python(tmp_path: Path) -> None:
    name = os.fsdecode(b"bad\xff.py")  # not UTF-8: python keeps the byte as a surrogate
    (tmp_path / name).write_text(TWO_PASSES.format(tail="print(ascii(sys.argv[1:]))"))
    arg = os.fsdecode(b"\xff")
    plain = subprocess.run(
        [sys.executable, name, arg], cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=120, check=False
    )
    proc = gt("run", "-f", "json", name, arg, cwd=tmp_path)
    assert proc.returncode == plain.returncode == 0, proc.stderr
    assert proc.stdout == plain.stdout == "two passes done\n['\\udcff']\n"
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("graphtrace: 2 backward passes, 2 written to outputs/bad\\xff/\n")
    assert "bad\\xff.py:4" in proc.stderr
    folder = tmp_path / "outputs" / os.fsdecode(b"bad\xff")
    assert "<h1>graphtrace: bad\\xff.py</h1>" in (folder / "index.html").read_text()
    # a lone surrogate inside a trace file (a JSON escape) renders, and prints escaped
    text = (folder / "pass-001.json").read_text().replace('"call_site":"bad\\udcff.py:4"', '"call_site":"\\ud800"')
    (tmp_path / "lone.json").write_text(text)
    proc = gt("render", "-f", "dot", "-o", "r", "lone.json", cwd=tmp_path)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    assert "  1       backward  \\ud800 " in proc.stderr


def test_pass_pages_link_their_neighbours_and_the_index(tmp_path: Path) -> None:
    proc = gt("run", "--out", "out", write(tmp_path, TWO_PASSES.format(tail="")), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    first, second = ((tmp_path / "out" / f"pass-00{n}.html").read_text() for n in (1, 2))
    assert 'id="gt-next-pass" href="pass-002.html"' in first and "gt-prev-pass" not in first
    assert 'id="gt-prev-pass" href="pass-001.html"' in second and "gt-next-pass" not in second
    assert 'id="gt-index-pass" href="index.html"' in first and 'id="gt-index-pass" href="index.html"' in second


LOADED = """
import sys
from graphtrace.cli.command import cli
code = cli.main(sys.argv[1:], prog_name="graphtrace", standalone_mode=False)
heavy = ("networkx", "jsonschema", "graphviz", "torch", "yaml")
print(code, sorted({m.split(".")[0] for m in sys.modules} & set(heavy)))
"""


def test_help_and_version_import_no_model_renderer_or_torch() -> None:  # NOTE [lazy package]
    for args in (["--help"], ["--version"], ["run", "--help"], ["--nope"], ["run"]):
        proc = subprocess.run([sys.executable, "-c", LOADED, *args], env=ENV, capture_output=True, text=True)
        assert proc.stdout.splitlines()[-1] == f"{0 if '--help' in args or '--version' in args else 2} []", (
            args,
            proc.stdout,
            proc.stderr,
        )


def run_loaded(tmp_path: Path, script: str) -> subprocess.CompletedProcess:
    """``graphtrace run -q -o out script`` in ``tmp_path``, printing the heavy packages imported (LOADED)."""
    return subprocess.run(
        [sys.executable, "-c", LOADED, "run", "-q", "-o", "out", script],
        cwd=tmp_path,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_run_never_loads_the_schema_validator(tmp_path: Path) -> None:  # NOTE [lazy package]
    proc = run_loaded(tmp_path, write(tmp_path, TWO_PASSES.format(tail="")))
    assert proc.stdout.splitlines() == ["two passes done", "0 ['graphviz', 'networkx', 'torch', 'yaml']"], proc.stderr


SEES_MODULES = """
import sys, torch
print([m in sys.modules for m in ("networkx", "yaml")], flush=True)
{tail}
"""


def test_a_run_imports_networkx_and_yaml_only_at_its_first_pass(tmp_path: Path) -> None:
    # NOTE [networkx on first use]: a script that runs no backward pays for neither, and sees
    # what it sees under plain python; one that imports networkx itself gets the same module
    plain = write(tmp_path, SEES_MODULES.format(tail=""), "plain.py")
    assert subprocess.run([sys.executable, plain], cwd=tmp_path, env=ENV, capture_output=True, text=True).stdout == (
        "[False, False]\n"
    )
    proc = run_loaded(tmp_path, plain)
    assert proc.stdout.splitlines() == ["[False, False]", "0 ['graphviz', 'torch']"], proc.stderr
    tail = """
import networkx
x = torch.tensor(2.0, requires_grad=True)
(x * x).backward()
print([m in sys.modules for m in ("networkx", "yaml")], sys.modules["networkx"] is networkx)
"""
    proc = gt("run", "-q", "-f", "json", "-o", "out2", write(tmp_path, SEES_MODULES.format(tail=tail)), cwd=tmp_path)
    assert proc.stdout.splitlines() == ["[False, False]", "[True, True] True"], proc.stderr
    assert json.loads((tmp_path / "out2" / "pass-001.json").read_text())["nodes"][0]["kind"] == "root"
