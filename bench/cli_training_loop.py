"""Whole-process overhead of ``graphtrace run`` on an MLP training loop, and the CLI's start cost.

Runs ``python SCRIPT`` and ``graphtrace run SCRIPT`` alternately, each in a fresh process (so
both pay for importing torch, as a user would), and prints the best and median wall-clock and
CPU times of each and their ratios. Usage, from the repository root:

    .venv/bin/python bench/cli_training_loop.py [--repeat 5] [--threads N] [--script examples/mlp_training.py]
    .venv/bin/python bench/cli_training_loop.py --steps 200      # the small-MLP loop, 200 steps
    .venv/bin/python bench/cli_training_loop.py --start          # the CLI start lines
    .venv/bin/python bench/cli_training_loop.py --steps 200 --split   # where graphtrace run's time goes

``--steps N`` runs examples/mlp_training.py's model and data for N steps (a copy written to a
temporary folder). ``--threads N`` sets OMP_NUM_THREADS for both runs (on a busy machine
torch's default thread pool spins and makes both timings noisy).

CLI start (``--start``): what graphtrace adds to a script that only imports torch, as a
whole process: ``graphtrace run -q S`` minus ``python S`` where S is ``import torch`` (torch is
the user's to import; graphtrace imports it before the script's first line, so it is counted in
both). Such a script runs no backward pass, so graphtrace writes nothing; the difference is
graphtrace's own imports, option parsing, folder, tracer set-up and end. Also timed:
``graphtrace --help`` and ``graphtrace --version`` against ``python -c pass``.

``--split`` (with ``--steps``) adds two runs between python and ``graphtrace run``: the loop
inside the tracer ``run`` sets up, with a writer that writes nothing (capture alone),
and ``graphtrace run -f json`` (no pictures): so capture, the CLI with JSON and index, and the
drawing (SVG and HTML, ``dot`` included) each show as a difference.

``--before TREE`` also runs every graphtrace line with ``PYTHONPATH=TREE`` (another checkout,
e.g. ``git archive main | tar -x -C TREE``), in the same rounds: a before/after comparison
whose two sides share the machine's load (with ``--start`` too).

Every process runs with Python's bytecode cache on, as a user's does: PYTHONDONTWRITEBYTECODE
is dropped from the environment (set, every graphtrace module would be compiled from source in
every process, about 0.1-0.2 s CPU that no installed graphtrace pays); the warm-up round writes
the caches.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOOP = '''"""The small MLP of examples/mlp_training.py trained for {steps} steps."""

import torch
from torch import nn

torch.manual_seed(0)
inputs = torch.randn(16, 4)
targets = torch.sin(inputs.sum(dim=1, keepdim=True))
model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
for step in range({steps}):
    optimizer.zero_grad()
    loss = nn.functional.mse_loss(model(inputs), targets)
    loss.backward()
    optimizer.step()
print(f"loss {{loss.item():.4f}}")
'''
TRACED = """import pathlib, tempfile
from graphtrace.cli.children import run_tracer
from graphtrace.cli.writer import Writer

_writer = Writer(pathlib.Path(tempfile.mkdtemp(prefix="graphtrace-bench-")), ())  # as `run` does, writing nothing
try:
    _tracer = run_tracer(_writer.add, True, None, False, _writer)
except TypeError:  # a tree before counted passes
    _tracer = run_tracer(_writer.add, True, None, False)
with _tracer:
"""


Command = tuple[list[str], dict]  # the command, its environment


def adopt_orphans() -> bool:
    """Make this process the subreaper of what it starts (Linux), so a run's drawer, which leaves
    the run's process tree (NOTE [drawer] in graphtrace/render/_drawer.py), comes back here when
    it ends and its CPU (its dot's included) is counted with the run's."""
    try:
        import ctypes

        return bool(ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0) == 0)  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        return False


def _reap_orphans() -> None:
    """Wait for the orphans that came back here (a drawer ends once its run has ended)."""
    while True:
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return


def timed(cmd: list[str], env: dict) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the process and its children, a drawer included) of one run of ``cmd``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    _reap_orphans()  # not in wall: the run had ended for its user
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def interleaved(cmds: dict[str, Command], repeat: int) -> dict[str, list[tuple[float, float]]]:
    """Each command once per round, in turn, after one warm-up round (file cache)."""
    for cmd, env in cmds.values():
        timed(cmd, env)
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in cmds}
    for _ in range(repeat):
        for name, (cmd, env) in cmds.items():
            times[name].append(timed(cmd, env))
    return times


def best_median(ts: list[tuple[float, float]]) -> tuple[float, float, float, float]:
    walls, cpus = [w for w, _ in ts], [c for _, c in ts]
    return min(walls), statistics.median(walls), min(cpus), statistics.median(cpus)


def show(name: str, ts: list[tuple[float, float]]) -> None:
    bw, mw, bc, mc = best_median(ts)
    print(f"  {name:<26} wall best {bw:6.3f} s  median {mw:6.3f} s   cpu best {bc:6.3f} s  median {mc:6.3f} s")


def ratio(name: str, num: list[tuple[float, float]], den: list[tuple[float, float]]) -> None:
    a, b = best_median(num), best_median(den)
    print(
        f"  {name:<26} wall best {a[0] / b[0]:5.2f}x  median {a[1] / b[1]:5.2f}x   "
        f"cpu best {a[2] / b[2]:5.2f}x  median {a[3] / b[3]:5.2f}x"
    )


def diff(name: str, num: list[tuple[float, float]], den: list[tuple[float, float]]) -> None:
    a, b = best_median(num), best_median(den)
    print(
        f"  {name:<26} wall best {a[0] - b[0]:+6.3f} s  median {a[1] - b[1]:+6.3f} s   "
        f"cpu best {a[2] - b[2]:+6.3f} s  median {a[3] - b[3]:+6.3f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--script", default="examples/mlp_training.py")
    parser.add_argument("--steps", type=int, default=None, help="the small MLP loop for N steps instead of --script")
    parser.add_argument("--start", action="store_true", help="the CLI start lines instead of a training loop")
    parser.add_argument("--split", action="store_true", help="with --steps: also capture alone and run -f json")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--before", default=None, help="also time graphtrace from this tree (PYTHONPATH)")
    opts = parser.parse_args()
    print("drawers counted (this process adopts orphans):", adopt_orphans())
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}  # the bytecode cache, as a user has
    if opts.threads:
        env["OMP_NUM_THREADS"] = str(opts.threads)
    python = sys.executable
    graphtrace = str(Path(python).with_name("graphtrace"))
    threads = env.get("OMP_NUM_THREADS", "default")
    sides = [("", env)]
    if opts.before:
        sides.append((" (before)", {**env, "PYTHONPATH": os.path.abspath(opts.before)}))
    cmds: dict[str, Command]
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "run")
        if opts.start:
            script = os.path.join(tmp, "import_torch.py")
            Path(script).write_text("import torch\n")
            cmds = {"python -c pass": ([python, "-c", "pass"], env), "python S": ([python, script], env)}
            for tag, side in sides:
                cmds["graphtrace --help" + tag] = ([graphtrace, "--help"], side)
                cmds["graphtrace --version" + tag] = ([graphtrace, "--version"], side)
                cmds["graphtrace run -q S" + tag] = ([graphtrace, "run", "-q", "--out", out, script], side)
            times = interleaved(cmds, opts.repeat)
            label = "CLI start, S = `import torch`"
        else:
            script = opts.script
            if opts.steps is not None:
                script = os.path.join(tmp, f"mlp_{opts.steps}_steps.py")
                Path(script).write_text(LOOP.format(steps=opts.steps))
            cmds = {"python": ([python, script], env)}
            for tag, side in sides:
                if opts.split and opts.steps is not None:
                    traced = os.path.join(tmp, f"mlp_{opts.steps}_steps_traced.py")
                    Path(traced).write_text(
                        TRACED + "".join(f"    {line}\n" for line in Path(script).read_text().splitlines())
                    )
                    cmds["python, in trace()" + tag] = ([python, traced], side)
                    cmds["run -f json" + tag] = ([graphtrace, "run", "-q", "-f", "json", "--out", out, script], side)
                cmds["run" + tag] = ([graphtrace, "run", "-q", "--out", out, script], side)
            times = interleaved(cmds, opts.repeat)
            label = f"{opts.steps} steps of the small MLP" if opts.steps is not None else opts.script
    print(
        f"{label}  ({opts.repeat} interleaved rounds, torch threads {threads}, load average {os.getloadavg()[0]:.1f})"
    )
    for name, ts in times.items():
        show(name, ts)
    if opts.start:
        for tag, _ in sides:
            diff("--help - python -c pass" + tag, times["graphtrace --help" + tag], times["python -c pass"])
            diff("--version - python -c pass" + tag, times["graphtrace --version" + tag], times["python -c pass"])
            diff("CLI start (run S - python S)" + tag, times["graphtrace run -q S" + tag], times["python S"])
    else:
        for name in times:
            if name != "python":
                ratio(f"{name} / python", times[name], times["python"])


if __name__ == "__main__":
    main()
