"""Seed 003: the chain rule, sigmoid by hand against autograd, and a ReLU neuron.

sigmoid'(x) = s(x) * (1 - s(x)); at x = 2 that is 0.1049936 both ways. For a = ReLU(w*x + b)
with w*x + b > 0, da/dw = x and da/db = 1.
"""

import math

import torch

# Chain rule: y = u**2 with u = 3x + 1, at x = 1: dy/dx = 2u * 3 = 24.
x = torch.tensor(1.0, requires_grad=True)
u = 3 * x + 1
y = u**2
y.backward()  # pass 1
print(f"dy/dx of (3x + 1)**2 at 1 = {x.grad.item():.1f}")  # 24.0

# Sigmoid at 2: by hand, then by autograd.
s = 1 / (1 + math.exp(-2.0))
print(f"sigmoid'(2) by hand   = {s * (1 - s):.7f}")  # 0.1049936
x = torch.tensor(2.0, requires_grad=True)
s = torch.sigmoid(x)
s.backward()  # pass 2
print(f"sigmoid'(2) autograd  = {x.grad.item():.7f}")

# A ReLU neuron: a = ReLU(w*x + b) at w = 2, x = 1, b = 0.5 (pre-activation 2.5 > 0).
w = torch.tensor(2.0, requires_grad=True)
x = torch.tensor(1.0, requires_grad=True)
b = torch.tensor(0.5, requires_grad=True)
a = torch.relu(w * x + b)
a.backward()  # pass 3
print(f"a = {a.item():.1f}; da/dw = {w.grad.item():.1f}, da/dx = {x.grad.item():.1f}, da/db = {b.grad.item():.1f}")

# A cubic: y = 2x**3 + x at 1, dy/dx = 6x**2 + 1 = 7.
x = torch.tensor(1.0, requires_grad=True)
y = 2 * x**3 + x
y.backward()  # pass 4
print(f"dy/dx of 2x**3 + x at 1 = {x.grad.item():.1f}")  # 7.0
