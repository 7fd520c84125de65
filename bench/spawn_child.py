"""What tracing a spawned child costs: one ``spawn`` Process running one backward, plain and under
``graphtrace run``, alternated; the child's time from ``start()`` to ``join()``, medians.

    python bench/spawn_child.py --repeat 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

GRAPHTRACE = str(Path(sys.executable).with_name("graphtrace"))
CHILD = """\
import multiprocessing as mp
import time

import torch


def work():
    x = torch.tensor(7.0, requires_grad=True)
    torch.sin(x**3 + 4).backward()


if __name__ == "__main__":
    t = time.perf_counter()
    p = mp.get_context("spawn").Process(target=work)
    p.start()
    p.join()
    print(f"{time.perf_counter() - t:.3f}")
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="graphtrace-spawn-bench-") as tmp:
        script = Path(tmp) / "child.py"
        script.write_text(CHILD)
        env = dict(os.environ, OMP_NUM_THREADS="1")
        plain, traced = [], []
        for i in range(args.repeat):
            run = [sys.executable, str(script)]
            plain.append(float(subprocess.run(run, env=env, capture_output=True, text=True, check=True).stdout))
            cmd = [GRAPHTRACE, "run", "-q", "-o", f"{tmp}/out{i}", "-f", "json,svg", str(script)]
            traced.append(float(subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout))
        load = os.getloadavg()[0]
        print(
            f"plain {statistics.median(plain):.2f} s, traced {statistics.median(traced):.2f} s (medians of "
            f"{args.repeat}, alternated; load {load:.1f})"
        )


if __name__ == "__main__":
    main()
