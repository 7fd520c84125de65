"""Checkpointed forwards (reentrant and not) and a selective-checkpoint policy run as often as plain."""

import functools

import torch
from corpus import save_grads
from torch.utils.checkpoint import CheckpointPolicy, checkpoint, create_selective_checkpoint_contexts

if __name__ == "__main__":
    runs, policy_calls = [], []

    def block(t):
        runs.append(1)
        return (t.sin() * 2).tanh()

    def policy(ctx, op, *args, **kwargs):
        policy_calls.append(str(op))
        return CheckpointPolicy.PREFER_RECOMPUTE

    x = torch.tensor([0.5, 1.0, 2.0], requires_grad=True)
    for reentrant in (False, True):
        checkpoint(block, x, use_reentrant=reentrant).sum().backward()
        print("reentrant", reentrant, "forward runs", len(runs))
    contexts = functools.partial(create_selective_checkpoint_contexts, policy)
    checkpoint(block, x, use_reentrant=False, context_fn=contexts).sum().backward()
    print("selective: forward runs", len(runs), "policy calls", len(policy_calls))
    save_grads(x=x.grad)
