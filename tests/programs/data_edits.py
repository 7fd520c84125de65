"""An edit through .data between two passes: the second pass records the new values (issue 11 item 14)."""

import torch
from corpus import save_grads


def expect(run):
    first, second = (next(n for n in p["nodes"] if n["name"] == "w")["value"] for p in run.passes)
    assert first["max"] == 1.0 and round(first["norm"], 3) == 100.0
    assert second["max"] == 1001.0 and round(second["norm"], 2) == 1005.98


if __name__ == "__main__":
    w = torch.ones(100, 100, requires_grad=True)
    (w * 2).sum().backward()
    w.data[0, 1] += 1000  # the version counter does not move
    (w * w).sum().backward()
    print("grad max", w.grad.max().item())
    save_grads(w=w.grad)
