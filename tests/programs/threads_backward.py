"""Backward passes run from several threads at once, each on its own graph."""

import threading

import torch
from corpus import save_grads

if __name__ == "__main__":
    leaves = [torch.tensor([float(k), k + 1.0], requires_grad=True) for k in range(4)]

    def work(t):
        for _ in range(3):
            (t.exp() * t).sum().backward()

    threads = [threading.Thread(target=work, args=(t,)) for t in leaves]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    (leaves[0] ** 2).sum().backward()
    print("main thread", leaves[0].grad.tolist())
    save_grads(**{f"t{k}": t.grad for k, t in enumerate(leaves)})
