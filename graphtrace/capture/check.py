"""``trace(check=True)``: each small node's backward checked against finite differences of its forward call."""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch.utils import _pytree as pytree

from ..model import Pass
from .values import JACOBIAN_LIMIT

# NOTE [gradient check]: under ``trace(check=True)`` every forward call of the block whose
# output gets a new grad_fn, and every custom ``Function.apply``, is remembered with copies of
# its (small) tensor arguments, keyed by the node's sequence number. After a pass, each of its
# op nodes with such a call is checked: the call is run again on float64 copies, once with
# autograd (the Jacobian its backward computes, row by row) and then with central finite
# differences (the Jacobian of the forward). Everything runs on copies, with the random state
# saved and restored, so the user's tensors, ``.grad`` and random numbers never change; the
# user's backward (a custom Function's) and forward run again, on the copies: that is the check.
# Points where a one-sided difference disagrees with the other (relu or abs at 0) and calls
# whose output changes with the random state (dropout) are skipped, with the reason.

EPS = {torch.float64: 1e-6, torch.float32: 1e-3}
TOL = {torch.float64: (1e-5, 1e-3), torch.float32: (1e-2, 1e-2)}  # (atol, rtol), gradcheck's for float64


class Calls:
    """Forward calls of one trace block, by the sequence number of the node each made."""

    def __init__(self) -> None:
        self._calls: dict[int, tuple[Callable[..., Any], Any, int]] = {}
        self._busy = threading.local()

    def add(self, func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> None:
        """Remember ``func(*args, **kwargs)`` for each new node among its outputs (small calls only)."""
        if getattr(self._busy, "on", False):
            return
        outs = out if isinstance(out, (tuple, list)) else (out,)
        made = [(k, t.grad_fn) for k, t in enumerate(outs) if isinstance(t, torch.Tensor) and t.grad_fn is not None]
        made = [(k, fn) for k, fn in made if fn._sequence_nr() not in self._calls]
        if not made:
            return
        leaves = pytree.tree_leaves((args, kwargs))
        tensors = [t for t in leaves if isinstance(t, torch.Tensor)]
        if "out" in kwargs or any(o is t for o in outs for t in tensors):
            return  # in place: the arguments are already overwritten, nothing to run again
        if not tensors or any(t.numel() > JACOBIAN_LIMIT or t.layout != torch.strided for t in tensors):
            return
        if any(outs[k].numel() > JACOBIAN_LIMIT for k, _ in made):
            return
        frozen = pytree.tree_map(_frozen, (args, kwargs))
        for k, fn in made:
            self._calls[fn._sequence_nr()] = (func, frozen, k if isinstance(out, (tuple, list)) else -1)

    def get(self, seq: int) -> tuple[Callable[..., Any], Any, int] | None:
        return self._calls.get(seq)

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        """A context in which the calls the check itself makes are not remembered."""
        self._busy.on = True
        try:
            yield
        finally:
            self._busy.on = False

    def clear(self) -> None:
        self._calls.clear()


class _Frozen:
    """A tensor argument as it was: a detached copy and whether the original required grad."""

    def __init__(self, t: torch.Tensor) -> None:
        self.value = t.detach().clone()
        self.requires_grad = t.requires_grad


def _frozen(x: Any) -> Any:
    return _Frozen(x) if isinstance(x, torch.Tensor) else x


class FunctionApply:
    """Sees custom ``autograd.Function.apply`` calls while installed (they bypass torch function modes)."""

    def __init__(self, calls: Calls) -> None:
        self.calls = calls
        self.original: Any = None

    def install(self) -> None:
        original = torch.autograd.Function.__dict__["apply"]
        calls = self.calls

        def apply(cls: Any, *args: Any, **kwargs: Any) -> Any:
            out = original.__func__(cls, *args, **kwargs)
            try:
                calls.add(functools.partial(original.__func__, cls), args, kwargs, out)
            except Exception:  # remembering is best effort: the user's call has its result
                pass
            return out

        self.original = original
        torch.autograd.Function.apply = classmethod(apply)  # type: ignore[assignment,method-assign]

    def remove(self) -> None:
        if self.original is not None:
            torch.autograd.Function.apply = self.original  # type: ignore[method-assign]
            self.original = None


def annotate(p: Pass, calls: Calls, seqs: dict[int, int]) -> None:
    """Give each node of ``p`` made by a remembered call its ``check``; the pass its summary."""
    counts = {"ok": 0, "mismatch": 0, "skipped": 0}
    graph = p.graph
    with calls.running():
        for nid, seq in seqs.items():
            call = calls.get(seq)
            if call is None or nid not in graph:
                continue
            result = check_call(*call)
            graph.nodes[nid]["check"] = result
            counts[result["status"]] += 1
    graph.graph["check"] = counts


def check_call(func: Callable[..., Any], frozen: Any, output: int) -> dict[str, Any]:
    """The analytic Jacobian of ``func`` at the remembered arguments against finite differences."""
    state = torch.random.get_rng_state()
    try:
        return _check(func, frozen, output, state)
    except Exception as exc:  # a call that cannot run again on copies: say why
        return _skipped(f"could not run the forward again: {type(exc).__name__}: {exc}".splitlines()[0])
    finally:
        torch.random.set_rng_state(state)


def _check(func: Callable[..., Any], frozen: Any, output: int, state: torch.Tensor) -> dict[str, Any]:
    cells = [x for x in pytree.tree_leaves(frozen) if isinstance(x, _Frozen)]
    wrt = [c for c in cells if c.requires_grad and c.value.is_floating_point()]
    if not wrt:
        return _skipped("no floating-point input that requires grad")
    dtype = (
        torch.float64
        if all(
            c.value.dtype in (torch.float64, torch.float32, torch.float16, torch.bfloat16)
            for c in cells
            if c.value.is_floating_point()
        )
        else wrt[0].value.dtype
    )
    if dtype not in EPS:
        return _skipped(f"inputs of dtype {dtype} are not checked")
    base = {id(c): c.value.to(dtype) if c.value.is_floating_point() else c.value.clone() for c in cells}

    def run(values: dict[int, torch.Tensor], grad: bool) -> torch.Tensor:
        torch.random.set_rng_state(state)
        args, kwargs = pytree.tree_map(lambda x: values[id(x)] if isinstance(x, _Frozen) else x, frozen)
        with torch.set_grad_enabled(grad):
            out = func(*args, **kwargs)
        picked = out[output] if output >= 0 else out
        if not isinstance(picked, torch.Tensor) or not picked.is_floating_point():
            raise TypeError("the output is not a floating-point tensor")
        return picked

    with torch.no_grad():
        first, again = run(base, False), _unseeded(func, frozen, base, output)
    if again is not None and not torch.equal(first, again):
        return _skipped("random op: its output changes with the random state")
    analytic = _analytic(run, base, wrt)
    numeric, kink = _numeric(run, base, wrt, EPS[dtype])
    if kink is not None:
        return _skipped(f"not differentiable at this input (one-sided differences disagree at {kink})")
    atol, rtol = TOL[dtype]
    worst_abs = worst_rel = 0.0
    bad: list[list[list[int]]] = []
    for a, n in zip(analytic, numeric):
        diff = (a - n).abs()
        worst_abs = max(worst_abs, float(diff.max()) if diff.numel() else 0.0)
        rel = diff / n.abs().clamp_min(atol)
        worst_rel = max(worst_rel, float(rel.max()) if rel.numel() else 0.0)
        bad.append((diff > atol + rtol * n.abs()).nonzero().tolist())
    status = "mismatch" if any(bad) else "ok"
    result: dict[str, Any] = {
        "status": status,
        "max_abs_error": worst_abs,
        "max_rel_error": worst_rel,
        "reason": "",
        "dtype": str(dtype).removeprefix("torch."),
    }
    if status == "mismatch":
        result["reason"] = "the backward's Jacobian differs from finite differences of the forward"
        result["analytic"] = [a.tolist() for a in analytic]
        result["numeric"] = [n.tolist() for n in numeric]
        result["differs"] = bad
    return result


def _unseeded(func: Callable[..., Any], frozen: Any, base: dict[int, torch.Tensor], output: int) -> Any:
    """The call's output once more without resetting the random state (random ops differ)."""
    args, kwargs = pytree.tree_map(lambda x: base[id(x)] if isinstance(x, _Frozen) else x, frozen)
    out = func(*args, **kwargs)
    return out[output] if output >= 0 else out


def _analytic(
    run: Callable[..., torch.Tensor], base: dict[int, torch.Tensor], wrt: list[_Frozen]
) -> list[torch.Tensor]:
    """``J[i][j] = d out[i] / d x[j]`` for each input in ``wrt``, row by row through autograd."""
    values = dict(base)
    leaves = []
    for c in wrt:
        leaf = base[id(c)].clone().requires_grad_(True)
        values[id(c)] = leaf
        leaves.append(leaf)
    out = run(values, True)
    flat = out.reshape(-1)
    rows: list[list[torch.Tensor]] = [[] for _ in leaves]
    for i in range(flat.numel()):
        grads = torch.autograd.grad(flat[i], leaves, retain_graph=True, allow_unused=True)
        for k, (g, leaf) in enumerate(zip(grads, leaves)):
            rows[k].append(torch.zeros(leaf.numel(), dtype=leaf.dtype) if g is None else g.reshape(-1).detach())
    return [torch.stack(r) if r else torch.zeros(0, leaf.numel()) for r, leaf in zip(rows, leaves)]


def _numeric(
    run: Callable[..., torch.Tensor], base: dict[int, torch.Tensor], wrt: list[_Frozen], eps: float
) -> tuple[list[torch.Tensor], str | None]:
    """Central differences of the forward for each input in ``wrt``; where one-sided ones disagree."""
    with torch.no_grad():
        center = run(base, False).reshape(-1)
        blocks = []
        for k, c in enumerate(wrt):
            x = base[id(c)]
            cols = []
            for j in range(x.numel()):
                shifted = []
                for sign in (1, -1):
                    moved = x.clone()
                    moved.view(-1)[j] += sign * eps
                    shifted.append(run({**base, id(c): moved}, False).reshape(-1))
                up, down = shifted
                forward, backward = (up - center) / eps, (center - down) / eps
                if not torch.allclose(forward, backward, atol=1e-3, rtol=1e-2):
                    return [], f"input {k}, element {j}"
                cols.append((up - down) / (2 * eps))
            blocks.append(torch.stack(cols, dim=1) if cols else torch.zeros(center.numel(), 0))
    return blocks, None


def _skipped(reason: str) -> dict[str, Any]:
    return {"status": "skipped", "max_abs_error": None, "max_rel_error": None, "reason": reason}
