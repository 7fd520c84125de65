"""A small MLP trained for 300 steps on fixed synthetic data (deterministic: fixed seed).

Every loss.backward() is a pass of the same structure. graphtrace writes the first 20 and, of
the rest, the first and the latest recorded in full (276); it charts the gradients of all 300.
"""

import torch
from torch import nn

torch.manual_seed(0)
inputs = torch.randn(16, 4)  # 16 samples, 4 features
targets = torch.sin(inputs.sum(dim=1, keepdim=True))  # a smooth function to learn

model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)

for step in range(300):
    optimizer.zero_grad()
    loss = nn.functional.mse_loss(model(inputs), targets)
    loss.backward()  # one pass per step
    optimizer.step()
    if step % 50 == 0 or step == 299:
        print(f"step {step:3d}  loss {loss.item():.4f}")
