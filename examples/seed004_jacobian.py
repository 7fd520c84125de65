"""Seed 004: Jacobians with torch.autograd.functional.jacobian, partials of two inputs, a quartic.

jacobian() runs one torch.autograd.grad pass per output element, so each shows up as its
own pass (called "via torch.autograd.functional.jacobian"). The last pass differentiates
f over a linspace; its page charts f and f' against x.
"""

import torch
from torch.autograd.functional import jacobian


def f(x):
    return 2 * x**3 + 5 * x**2 + 7 * x + 10


# Elementwise f on a 2x3 matrix: the Jacobian is diagonal, with f'(x) = 6x**2 + 10x + 7.
x = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
J = jacobian(f, x)  # passes 1-6, one per output element
print("J shape:", list(J.shape))
print("diagonal:", J.reshape(6, 6).diagonal().tolist())  # [23, 51, 91, 143, 207, 283]


# Two inputs: g(a, b) = a**2 * b + b**3 at a = 1, b = 2.
def g(a, b):
    return a**2 * b + b**3


dg_da, dg_db = jacobian(g, (torch.tensor(1.0), torch.tensor(2.0)))  # pass 7
print(f"dg/da = 2ab = {dg_da.item():.1f}, dg/db = a**2 + 3b**2 = {dg_db.item():.1f}")  # 4.0, 13.0

# A quartic at 2: dy/dx = 32x**3 + 9x**2 + 14x + 6 = 326.
x = torch.tensor(2.0, requires_grad=True)
y = 8 * x**4 + 3 * x**3 + 7 * x**2 + 6 * x + 3
y.backward()  # pass 8
print(f"dy/dx of the quartic at 2 = {x.grad.item():.1f}")  # 326.0

# f and f' over a linspace: backward with a seed of ones gives f'(x) at every point.
x = torch.linspace(-3, 2, 21, requires_grad=True)
y = f(x)
y.backward(torch.ones_like(y))  # pass 9: its page charts y and x.grad against x
print("f'(x) =", [round(v, 2) for v in x.grad.tolist()])
