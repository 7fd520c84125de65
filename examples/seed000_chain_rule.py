"""Seed 000: the chain rule through y = x**3 + 4 and z = sin(y), at x = 7.

dz/dx = cos(y) * 3x**2: torch's x.grad must equal the product of the two local derivatives
along the path, which the drawn graph shows edge by edge.
"""

import torch

x = torch.tensor(7.0, requires_grad=True)  # a leaf: backward accumulates into x.grad
y = x**3 + 4  # 347
y.retain_grad()  # keep y.grad too (non-leaf tensors drop theirs by default)
z = torch.sin(y)

z.backward()  # one backward pass: graphtrace draws it as pass-001

print(f"z     = {z.item():.6f}")
print(f"dz/dx = {x.grad.item():.6f}")  # 21.384121
print(f"y.grad = dz/dy = cos(y) = {y.grad.item():.5f}")  # 0.14547
print(f"dy/dx = 3x**2 = {3 * x.item() ** 2:.0f}")  # 147
