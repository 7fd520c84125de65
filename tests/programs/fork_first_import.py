"""A thread forks while the main thread runs its first backward pass, and the child imports networkx
itself: nobody hangs (NOTE [networkx on first use]: graphtrace imports networkx at the first pass,
and a fork while another thread is inside an import leaves that module locked in the child)."""

import importlib.abc
import os
import signal
import sys
import threading
import time

import torch
from corpus import node, save_grads

ARGS = ["-q", "--format", "json,svg"]  # drawing threads exist too
DEADLINE = 20  # seconds the child gets; a hung child is killed and says so


def expect(run):
    assert len(run.passes) == 2
    assert node(run.passes[1], "x")["grad_after"]["values"] == 33.0  # 2 * 3 + 3 * 3 ** 2


class SlowNetworkx(importlib.abc.MetaPathFinder):
    """Holds the first import of a networkx submodule for a while, having said it started."""

    def __init__(self, started):
        self.started = started

    def find_spec(self, name, path, target=None):
        if name.startswith("networkx.") and not self.started.is_set():
            self.started.set()
            time.sleep(0.5)  # the fork comes now, while networkx is half imported
        return None


def fork_and_wait(go, result):
    go.wait()
    pid = os.fork()
    if pid == 0:
        import networkx

        os._exit(0 if networkx.DiGraph else 1)
    deadline = time.monotonic() + DEADLINE
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            result.append(os.waitstatus_to_exitcode(status))
            return
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            result.append("hung")
            return
        time.sleep(0.05)


if __name__ == "__main__":
    go = threading.Event()  # set inside graphtrace's import of networkx, or (plain python) after the pass
    sys.meta_path.insert(0, SlowNetworkx(go))
    result = []
    forker = threading.Thread(target=fork_and_wait, args=(go, result))
    forker.start()
    x = torch.tensor(3.0, requires_grad=True)
    (x**2).backward()
    go.set()
    forker.join()
    (x**3).backward()
    print("child exit code", result, flush=True)
    save_grads(x=x.grad)
