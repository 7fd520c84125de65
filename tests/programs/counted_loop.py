"""A 60-step loop, so most passes are only counted (NOTE [counted passes]): gradients accumulated
over two steps, a tensor hook halving one gradient, a post-accumulate hook clamping another."""

import json
import math

import torch
from corpus import save_grads
from torch import nn


def expect(run):
    # after the first 20, one group of 40 passes (21-60): its 1st, 2nd, 4th, ..., 32nd recorded
    # in full; its first (21) and latest recorded in full (52) written, the other 34 only counted
    assert [p["graph"]["index"] for p in run.passes] == [*range(1, 22), 52]
    info = json.loads((run.out / "run.json").read_text())
    (group,) = info["groups"]
    assert [group[k] for k in ("first", "last", "count", "drawn", "counted")] == [21, 60, 40, [21, 52], 34]
    stats = {name: (rms, top, n) for name, rms, top, n in info["grad_stats"]}
    assert [n for _, _, n in stats.values()] == [60] * 4  # every pass in the statistics
    printed = dict(line.split(" ", 1) for line in run.stdout.splitlines() if line.startswith("rms."))
    assert len(printed) == 3
    for name, numbers in printed.items():  # the mean rms and max |grad| the script computed itself
        mean_rms, max_abs = (float(v) for v in numbers.split())
        rms, top, _ = stats[name.removeprefix("rms.")]
        assert math.isclose(rms, mean_rms, rel_tol=1e-6) and math.isclose(top, max_abs, rel_tol=1e-6), name


def clamp(p: torch.Tensor) -> None:
    p.grad.clamp_(-0.1, 0.1)


if __name__ == "__main__":
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    model[0].weight.register_hook(lambda g: g * 0.5)  # what reaches the leaf is the halved gradient
    model[2].weight.register_post_accumulate_grad_hook(clamp)  # after the gradient arrived
    x, y = torch.randn(16, 4), torch.randn(16, 1)
    seen: dict[str, list[torch.Tensor]] = {n: [] for n, _ in model.named_parameters()}
    for step in range(60):
        if step % 2 == 0:
            opt.zero_grad(set_to_none=True)
        before = {n: None if p.grad is None else p.grad.clone() for n, p in model.named_parameters()}
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
        for n, p in model.named_parameters():  # the gradient this pass brought (2.weight's is clamped after)
            seen[n].append(p.grad - before[n] if before[n] is not None else p.grad.clone())
        if step % 2 == 1:
            opt.step()
    for n, grads in seen.items():
        if n == "2.weight":
            continue
        rms = sum(g.norm().item() / g.numel() ** 0.5 for g in grads) / len(grads)
        print(f"rms.{n} {rms!r} {max(g.abs().max().item() for g in grads)!r}")
    save_grads(**{n: p.grad for n, p in model.named_parameters()}, **{"p." + n: p for n, p in model.named_parameters()})
