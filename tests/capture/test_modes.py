"""Leaving a trace's mode: from its own thread, from another, and what stays on each thread's stack."""

from __future__ import annotations

import threading

import pytest
import torch

import graphtrace


def test_a_trace_left_from_another_thread_stops_and_leaves_that_threads_modes_alone() -> None:
    t = graphtrace.trace()
    seen: dict = {}

    def leave() -> None:  # this thread has a trace of its own, active while it leaves t
        with graphtrace.trace() as own:
            t.__exit__(None, None, None)
            y = torch.tensor(2.0, requires_grad=True)
            (y**3).backward()
        seen.update(own=own.count, y=y.grad.item())

    def enter_and_go_on() -> None:  # its own thread: what stays on its mode stack dies with it
        t.__enter__()
        other = threading.Thread(target=leave)
        other.start()
        other.join()
        x = torch.tensor(7.0, requires_grad=True)
        torch.sin(x**3 + 4).backward()
        seen["x"] = x.grad.item()

    th = threading.Thread(target=enter_and_go_on)
    th.start()
    th.join()
    assert seen == {"own": 1, "y": 12.0, "x": pytest.approx(21.384121)}
    assert t.count == 0  # nothing recorded after it was left
    assert not torch.nn.modules.module._global_forward_hooks  # its module hooks are gone


def test_a_trace_left_from_another_thread_is_swept_off_its_threads_stack_at_the_next_trace() -> None:
    stacks: dict = {}

    def enter_and_go_on() -> None:
        t = graphtrace.trace()
        t.__enter__()
        other = threading.Thread(target=t.__exit__, args=(None, None, None))
        other.start()
        other.join()
        # torch lets no thread change another's stack: the left mode stays, inert, until this
        # thread runs graphtrace again (NOTE [a mode per thread])
        stacks["left"] = len(torch.overrides._get_current_function_mode_stack())
        x = torch.tensor(7.0, requires_grad=True)
        with graphtrace.trace() as again:
            torch.sin(x**3 + 4).backward()
        stacks["after"] = list(torch.overrides._get_current_function_mode_stack())
        stacks["grad"], stacks["passes"] = x.grad.item(), again.count

    th = threading.Thread(target=enter_and_go_on)
    th.start()
    th.join()
    assert stacks == {"left": 1, "after": [], "grad": pytest.approx(21.384121), "passes": 1}


def test_a_trace_the_main_thread_entered_and_a_worker_left_is_off_the_main_stack_after_join() -> None:
    assert threading.current_thread() is threading.main_thread()

    class Mine(torch.overrides.TorchFunctionMode):  # the script's own mode, entered after the trace
        def __torch_function__(self, func, types, args=(), kwargs=None):
            return func(*args, **(kwargs or {}))

    t = graphtrace.trace()
    t.__enter__()
    with Mine() as mine:
        worker = threading.Thread(target=t.__exit__, args=(None, None, None))
        worker.start()
        worker.join()
        stack = torch.overrides._get_current_function_mode_stack()  # NOTE [a mode per thread]
        x = torch.tensor(7.0, requires_grad=True)
        torch.sin(x**3 + 4).backward()
    assert stack == [mine]
    assert torch.overrides._get_current_function_mode_stack() == []
    assert x.grad.item() == pytest.approx(21.384121)
    assert t.count == 0


def test_leaving_a_trace_keeps_a_mode_entered_after_it() -> None:
    class Count(torch.overrides.TorchFunctionMode):
        calls = 0

        def __torch_function__(self, func, types, args=(), kwargs=None):
            Count.calls += 1
            return func(*args, **(kwargs or {}))

    t = graphtrace.trace()
    t.__enter__()
    user_mode = Count()
    user_mode.__enter__()
    t.__exit__(None, None, None)  # out of order: the user's mode must survive
    torch.ones(2).sum()
    assert Count.calls == 2  # ones and sum
    user_mode.__exit__(None, None, None)
    assert not torch.overrides._is_torch_function_mode_enabled()


def test_a_trace_left_by_a_worker_while_its_backward_runs_is_off_the_main_stack_after_it() -> None:
    t = graphtrace.trace()
    t.__enter__()
    x = torch.tensor(2.0, requires_grad=True)

    def leave_from_a_worker(g: torch.Tensor) -> torch.Tensor:  # runs inside the traced backward
        worker = threading.Thread(target=t.__exit__, args=(None, None, None))
        worker.start()
        worker.join()
        return g

    x.register_hook(leave_from_a_worker)
    (x**3).backward()
    stack = torch.overrides._get_current_function_mode_stack()
    assert stack == []
    assert x.grad.item() == 12.0
    assert t.count == 1  # the pass that was running when it was left is kept whole
