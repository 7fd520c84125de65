"""Seed 001: leaf and non-leaf tensors, partial derivatives, and derivatives over a linspace.

Five backward passes: y = x**2 at 2; f = u*v + u**2; y = x**2 + 2x + 1; sum(x**2) over ten
points (x.grad = 2x); ReLU over ten points (x.grad is 0 or 1). The last two pages chart the
gradient against the value of x.
"""

import torch

# A leaf is a tensor made by the user; y is made by an op, so it has a grad_fn.
x = torch.tensor(2.0, requires_grad=True)
y = x**2
print(f"x.is_leaf={x.is_leaf} y.is_leaf={y.is_leaf} y.grad_fn={type(y.grad_fn).__name__}")
y.backward()  # pass 1
print(f"dy/dx at 2 = {x.grad.item():.1f}")  # 2x = 4.0

# Partial derivatives: f = u*v + u**2 at u=1, v=2. u gets two contributions (v and 2u).
u = torch.tensor(1.0, requires_grad=True)
v = torch.tensor(2.0, requires_grad=True)
f = u * v + u**2
f.backward()  # pass 2
print(f"df/du = {u.grad.item():.1f}, df/dv = {v.grad.item():.1f}")  # v + 2u = 4.0, u = 1.0

# A polynomial: y = x**2 + 2x + 1 at x = 2.
x = torch.tensor(2.0, requires_grad=True)
y = x**2 + 2 * x + 1
y.backward()  # pass 3
print(f"dy/dx of x**2 + 2x + 1 at 2 = {x.grad.item():.1f}")  # 2x + 2 = 6.0

# Many points at once: the gradient of sum(x**2) is 2x, elementwise.
x = torch.linspace(-10, 10, 10, requires_grad=True)
y = torch.sum(x**2)
y.backward()  # pass 4: its page charts x.grad against x (a line of slope 2)
print("x      =", [round(v, 3) for v in x.tolist()])
print("x.grad =", [round(v, 3) for v in x.grad.tolist()])  # 2x

# ReLU: the derivative is 0 for x < 0 and 1 for x > 0.
x = torch.linspace(-10, 10, 10, requires_grad=True)
y = torch.relu(x)
y.sum().backward()  # pass 5: a step from 0 to 1
print("relu'  =", x.grad.tolist())
