"""A model and its loss module for 30 steps, then a step of a new structure while passes are only
counted (NOTE [lean steady state]): its parameters keep their names (NOTE [owners while lean])."""

import json

import torch
from corpus import save_grads
from torch import nn


def expect(run):
    first, last = run.passes[0], run.passes[-1]
    assert last["graph"]["index"] == 31
    assert last["graph"]["capture_error"].startswith("this pass's forward ran while passes were only counted")
    params = sorted(n["param"] for n in first["nodes"] if n["param"])
    assert params == ["net.0.bias", "net.0.weight", "net.2.bias", "net.2.weight"]
    assert sorted(n["param"] for n in last["nodes"] if n["param"]) == params
    info = json.loads((run.out / "run.json").read_text())
    assert sorted((name, n) for name, _, _, n in info["grad_stats"]) == [(p, 31) for p in params]


if __name__ == "__main__":
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))
    crit = nn.MSELoss()  # a second owner: the parameters are named net.0.weight, ...
    x, y = torch.randn(16, 4), torch.randn(16, 1)
    for step in range(31):
        loss = crit(net(x), y)
        if step == 30:
            loss = loss * 2.0  # a new structure, its forward run while passes were only counted
        net.zero_grad()
        loss.backward()
    print("loss", round(loss.item(), 5))
    save_grads(**{n: p.grad for n, p in net.named_parameters()})
