"""Seed 002: torch.autograd.grad against .backward(), gradient accumulation, vector seeds, Jacobian rows.

autograd.grad returns the gradient and leaves x.grad alone; backward adds into x.grad, so
calling it three times accumulates. backward(gradient=v) computes v^T J, and one-hot v
pick out the rows of the Jacobian.
"""

import torch

# y = cos(x) + sin(x) at 2: dy/dx = -sin(2) + cos(2) = -1.3254
x = torch.tensor(2.0, requires_grad=True)
y = torch.cos(x) + torch.sin(x)
(dydx,) = torch.autograd.grad(y, x, retain_graph=True)  # pass 1: returns, x.grad stays None
print(f"autograd.grad: {dydx.item():.4f}, x.grad = {x.grad}")
y.backward()  # pass 2: the same number, now stored in x.grad
print(f"backward:      {x.grad.item():.4f}")

# Accumulation: each backward adds its gradient to x.grad.
x = torch.tensor(2.0, requires_grad=True)
y = torch.cos(x) + torch.sin(x)
for i in range(3):
    y.backward(retain_graph=True)  # passes 3, 4, 5
    print(f"after backward {i + 1}: x.grad = {x.grad.item():.4f}")  # -1.3254, -2.6509, -3.9763

# A non-scalar output needs a seed vector: backward(v) gives v^T J = v * 2x here.
x = torch.tensor([1.0, 2.0, -2.0], requires_grad=True)
y = x**2
y.backward(gradient=torch.tensor([1.0, 0.8, 0.6]), retain_graph=True)  # pass 6
print("v^T J =", [round(g, 4) for g in x.grad.tolist()])  # [2.0, 3.2, -2.4]

# Rows of the Jacobian of y = x**2 with one-hot seeds: J = diag(2x).
for i in range(3):
    onehot = torch.zeros(3)
    onehot[i] = 1.0
    (row,) = torch.autograd.grad(y, x, grad_outputs=onehot, retain_graph=True)  # passes 7, 8, 9
    print(f"J row {i} =", row.tolist())
