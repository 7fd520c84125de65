"""torch.compile'd model (aot_eager backend): its backward is one CompiledFunctionBackward node."""

import torch
from corpus import save_grads
from torch import nn


def expect(run):
    nodes = {n["id"]: n for n in run.passes[0]["nodes"]}
    (compiled,) = [i for i, n in nodes.items() if n["op"] == "CompiledFunctionBackward"]
    out = {nodes[e["target"]]["param"]: e["grad"] for e in run.passes[0]["edges"] if e["source"] == compiled}
    assert sorted(out) == ["0.bias", "0.weight", "2.bias", "2.weight"]
    for n in nodes.values():  # each edge to a parameter carries what the parameter got
        if n["kind"] == "leaf":
            assert out[n["param"]] == n["grad_in"][0] and n["grad_in"][0]["values"] is not None
    assert out["2.bias"]["values"] == [2.0]  # d(sum of 2 rows)/d(bias)


if __name__ == "__main__":
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1))
    compiled = torch.compile(model, backend="aot_eager")
    loss = compiled(torch.ones(2, 3)).sum()
    loss.backward()
    print(round(loss.item(), 6))
    save_grads(**{n: p.grad for n, p in model.named_parameters()})
