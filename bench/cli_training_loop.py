"""Overhead of ``graphtrace run`` on a 300-step MLP training loop, against plain ``python``.

Runs ``python examples/mlp_training.py`` and ``graphtrace run`` on it alternately (both in
fresh processes, so both pay for importing torch, as a user would) and prints the best
wall-clock and CPU times of each and their ratio. Usage, from the repository root:

    .venv/bin/python bench/cli_training_loop.py [--repeat 3] [--threads N] [--script examples/mlp_training.py]

``--threads N`` sets OMP_NUM_THREADS for both runs (on a busy machine torch's default
thread pool spins and makes both timings noisy).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def timed(cmd: list[str], env: dict) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the process and its children) of one run of ``cmd``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--script", default="examples/mlp_training.py")
    parser.add_argument("--threads", type=int, default=None)
    opts = parser.parse_args()
    env = dict(os.environ)
    if opts.threads:
        env["OMP_NUM_THREADS"] = str(opts.threads)
    python = sys.executable
    graphtrace = str(Path(python).with_name("graphtrace"))
    with tempfile.TemporaryDirectory() as out:
        plain_cmd = [python, opts.script]
        traced_cmd = [graphtrace, "run", "-q", "--out", os.path.join(out, "run"), opts.script]
        timed(plain_cmd, env)  # warm the file cache
        plain, traced = [], []
        for _ in range(opts.repeat):
            plain.append(timed(plain_cmd, env))
            traced.append(timed(traced_cmd, env))
    pw, pc = min(w for w, _ in plain), min(c for _, c in plain)
    tw, tc = min(w for w, _ in traced), min(c for _, c in traced)
    threads = env.get("OMP_NUM_THREADS", "default")
    print(f"script: {opts.script}  (best of {opts.repeat}, torch threads {threads}, "
          f"load average {os.getloadavg()[0]:.1f})")
    print(f"  python            wall {pw:6.2f} s   cpu {pc:6.2f} s")
    print(f"  graphtrace run    wall {tw:6.2f} s   cpu {tc:6.2f} s")
    print(f"  ratio             wall {tw / pw:6.2f}x   cpu {tc / pc:6.2f}x   (target: <= 1.5x)")


if __name__ == "__main__":
    main()
