"""Forward provenance: which nn.Module and which source line created each grad_fn."""

from __future__ import annotations

from typing import Any

import torch
from torch.nn.modules import module as nn_module

from .frames import user_frame, where
from .values import record

KEY = "graphtrace"  # the key of our entry in grad_fn.metadata


class ModuleStack:
    """Tracks the module being run through global forward hooks, removed by ``close()``."""

    def __init__(self) -> None:
        self.stack: list[tuple[str, str]] = []  # (path, class name)
        self._paths: dict[Any, dict[Any, str]] = {}  # root module -> {submodule: path}
        self._roots: list[Any] = []
        self._handles = [
            nn_module.register_module_forward_pre_hook(self._enter),
            nn_module.register_module_forward_hook(self._exit, always_call=True),
        ]

    def _enter(self, module: torch.nn.Module, args: Any) -> None:
        if not self.stack:
            if module not in self._paths:
                self._paths[module] = {m: name for name, m in module.named_modules()}
            self._roots.append(module)
            path = ""
        else:
            parent = self.stack[-1][0]
            path = self._paths[self._roots[-1]].get(module)
            if path is None:  # a module called from a module it does not belong to
                path = f"{parent}.<{type(module).__name__}>" if parent else f"<{type(module).__name__}>"
        self.stack.append((path, type(module).__name__))

    def _exit(self, module: torch.nn.Module, args: Any, output: Any) -> None:
        if self.stack:
            self.stack.pop()
            if not self.stack and self._roots:
                self._roots.pop()

    def close(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []
        self._paths.clear()
        self._roots.clear()
        self.stack.clear()


def tag(out: Any, modules: ModuleStack | None, limit: int) -> None:
    """Write source line, module and small forward values into new grad_fns' metadata."""
    tensors = out if isinstance(out, (tuple, list)) else (out,)
    info = None
    for t in tensors:
        if not isinstance(t, torch.Tensor):
            continue
        fn = t.grad_fn
        if fn is None:
            continue
        meta = fn.metadata
        entry = meta.get(KEY)
        if entry is None:
            if info is None:
                path, cls = modules.stack[-1] if modules and modules.stack else ("", "")
                info = {"source": where(user_frame(2)), "module": path, "module_class": cls}
            entry = meta[KEY] = dict(info, values={})
        if t.numel() <= limit and t.output_nr not in entry["values"]:
            entry["values"][t.output_nr] = record(t, limit)
