"""The script's own shape error after one backward: Python's traceback, exit 1 (issue 11 item 10)."""

import torch
from corpus import save_grads


def expect(run):
    import re
    from pathlib import Path

    import graphtrace

    assert len(run.passes) == 1
    package = Path(graphtrace.__file__).resolve().parent  # no frame of ours, wherever the checkout lives
    frames = re.findall(r'^ *File "(.+?)", line \d+', run.stderr, re.MULTILINE)
    assert frames and not any(Path(f).resolve().is_relative_to(package) for f in frames), run.stderr


def project(a, b):
    return a @ b


if __name__ == "__main__":
    x = torch.ones(2, 3, requires_grad=True)
    (x * 2).sum().backward()
    save_grads(x=x.grad)
    print("first pass done", flush=True)
    project(torch.ones(2, 3), torch.ones(4, 5))
