"""The benchmark workloads W1-W5: each builds a model and its inputs, and returns a loss closure."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))  # tests/models.py, shared

from models import GPT2_SMALL, GPT2Config, GPT2LMHeadModel, ResNet18, gpt2_batch, lm_loss, mlp  # noqa: E402


@dataclass
class Workload:
    key: str
    title: str
    loss: Callable[[], torch.Tensor]  # forward pass to a scalar loss
    params: dict[str, torch.Tensor]  # named parameters (torchviz's params=)


def training_mlp() -> tuple[torch.nn.Module, torch.optim.Optimizer, torch.Tensor, torch.Tensor]:
    """examples/mlp_training.py's 4-8-1 MLP, its SGD optimizer, inputs and targets (seed 0)."""
    torch.manual_seed(0)
    inputs = torch.randn(16, 4)
    targets = torch.sin(inputs.sum(dim=1, keepdim=True))
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    return model, torch.optim.SGD(model.parameters(), lr=0.01), inputs, targets


def _chain() -> Workload:
    def loss() -> torch.Tensor:
        x = torch.tensor(7.0, requires_grad=True)
        return torch.sin(x ** 3 + 4)
    return Workload("W1", "chain rule z=sin(x**3+4)", loss, {})


def _mlp() -> Workload:
    model = mlp(256, 4)
    x = torch.randn(32, 256)
    return Workload("W2", "MLP 4x256, batch 32", lambda: model(x).pow(2).mean(), dict(model.named_parameters()))


def _resnet() -> Workload:
    model = ResNet18(width=64, classes=1000)
    x = torch.randn(1, 3, 64, 64)
    target = torch.tensor([3])
    return Workload("W3", "ResNet-18, 1x3x64x64", lambda: torch.nn.functional.cross_entropy(model(x), target),
                    dict(model.named_parameters()))


def _gpt2(layers: int, key: str) -> Workload:
    cfg = GPT2Config(**{**GPT2_SMALL.__dict__, "n_layer": layers})
    model = GPT2LMHeadModel(cfg).eval()  # eval: no dropout, as in the reference numbers
    idx, targets = gpt2_batch(cfg, tokens=64)
    return Workload(key, f"GPT-2 small, {layers} layers, 1x64 tokens", lambda: lm_loss(model(idx), targets),
                    dict(model.named_parameters()))


BUILD: dict[str, Callable[[], Workload]] = {
    "W1": _chain,
    "W2": _mlp,
    "W3": _resnet,
    "W4": lambda: _gpt2(12, "W4"),
    "W5": lambda: _gpt2(48, "W5"),
}


def build(key: str, seed: int = 0) -> Workload:
    torch.manual_seed(seed)
    return BUILD[key]()
