"""scaled_dot_product_attention with a causal mask."""

import torch
import torch.nn.functional as F
from corpus import save_grads


def expect(run):
    (p,) = run.passes
    assert len(p["nodes"]) > 3


if __name__ == "__main__":
    torch.manual_seed(0)
    q, k, v = (torch.randn(1, 2, 5, 4, requires_grad=True) for _ in range(3))
    out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    out.pow(2).mean().backward()
    print(f"{out.sum().item():.5f}")
    save_grads(q=q.grad, k=k.grad, v=v.grad)
