"""Forward provenance: which nn.Module and which source line created each grad_fn."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import torch
from torch._ops import _len_torch_dispatch_stack_pre_dispatch as _len_pre_dispatch
from torch.nn.modules import module as nn_module

from .frames import code_line, place, user_frame, variable_of
from .values import record, record_read, unseen, wrapped

# NOTE [provenance table]: provenance lives in a side table of the trace, never on the node.
# Touching ``grad_fn.metadata`` (even reading it) attaches a Python dict to the C++ node, and
# freeing a deep graph of such nodes recurses through them and overflows the C stack (a
# 150,000-node chain segfaults where plain torch exits 0). Nodes are not weak-referenceable
# and holding them would keep the graph alive, so an entry is keyed by the node's sequence
# number (unique on the thread that made it, never reused) and checked against its name on
# lookup. Entries are dropped when their pass frees the graph. Even reading ``t.grad_fn``
# gives a node a Python object whose release recurses (a chain of some 60,000 such nodes
# overflows the stack), so tagging stops, before touching the node, once TABLE_MAX nodes of
# the block are tagged and alive; later nodes have no provenance until passes free some.
SHARED_NR = 1 << 63  # nodes made outside the counter (UINT64_MAX) share a number
TABLE_MAX = 20_000


# NOTE [lazy provenance]: a forward op pays for its provenance at every call, and most nodes
# are never drawn (no backward comes, or the pass is not kept). So an entry keeps handles only:
# the node's name (checked on lookup), a site shared by the nodes of one call (the user's file
# name and line, the module stack's top, whether the node was pure) and the small forward values.
# The text shown (``file:line`` relative to the working folder, the source line) is made when a
# pass reads the entry; a working folder changed in between gives the path as seen from the new
# one, as the pass's own call site is.
Site = tuple[Any, int, tuple[str, str, str], bool]  # (file name or None, line, (module path, class, owner), pure)
NO_MODULE = ("", "", "")


class Provenance:
    """Source line, module and small forward values of the grad_fns made in one trace block."""

    def __init__(self) -> None:
        self.entries: dict[int, list[Any]] = {}  # sequence number -> [op name, site, values or None]

    def __len__(self) -> int:
        return len(self.entries)

    def full(self) -> bool:
        return len(self.entries) >= TABLE_MAX

    def get(self, fn: Any) -> dict[str, Any] | None:
        """The entry of ``fn``, if it was made (and tagged) in this block."""
        raw = self.find(fn)
        if raw is None:
            return None
        name, (filename, line, (path, cls, owner), is_pure), values = raw
        return {
            "source": place(filename, line) if filename is not None else "",
            "code": code_line(filename, line) if filename is not None else "",
            "module": path,
            "module_class": cls,
            "owner": owner,
            "pure": is_pure,
            "op": name,
            "values": _resolved(values) if values is not None else {},
        }

    def find(self, fn: Any) -> list[Any] | None:
        """The raw entry of ``fn`` (NOTE [lazy provenance]), if it was tagged in this block."""
        raw = self.entries.get(fn._sequence_nr())
        return raw if raw is not None and raw[0] == fn.name() else None

    def pure(self, fn: Any) -> bool:
        """``fn`` was made in this block where graphtrace may call it (NOTE [pure nodes] in jacobian.py)."""
        raw = self.find(fn)
        return raw is not None and bool(raw[1][3])

    def put(self, fn: Any, site: Site) -> list[Any]:
        raw = [fn.name(), site, None]
        key = fn._sequence_nr()
        if key < SHARED_NR:  # a node without a sequence number of its own is not kept
            self.entries[key] = raw
        return raw

    def drop(self, fns: Any) -> None:
        """Forget the entries of nodes whose graph was freed (a pass without retain_graph)."""
        if not self.entries:  # none made (a lean steady state tags nothing)
            return
        for fn in fns:
            self.entries.pop(fn._sequence_nr(), None)

    def clear(self) -> None:
        self.entries.clear()


# NOTE [owners]: parameter names and module paths are relative to the top-level module that
# was called (``0.weight``, module ``2``), so two models with the same layout (a GAN's G and
# D) give the same names. Each top-level module therefore has an owner name: the variable
# that holds it where it is called (``G``), else its class name, made unique (``net_2``).
# A pass whose parameters and modules belong to more than one owner prefixes them all with
# it (``G.0.weight``, ``D.0.weight``, module ``D.2``); a pass within one model keeps the
# names as ``named_parameters()`` gives them. A block of a model seen before that is called
# on its own (a reentrant checkpoint recomputing ``self.block`` during backward) is named as
# that model names it (``block.0``), not as a new top-level module.


class ModuleStack:
    """Tracks the module being run through global forward hooks, removed by ``close()``."""

    def __init__(self) -> None:
        self.stack: list[tuple[str, str, str]] = []  # (path, class name, owner)
        self._paths: dict[Any, dict[Any, str]] = {}  # root module -> {submodule: path}
        self._owners: dict[Any, str] = {}  # root module -> its owner name (NOTE [owners])
        self._roots: list[Any] = []
        self.seen: dict[tuple[str, str], str] = {}  # every (owner, module path) entered -> its class name
        self.params: dict[int, tuple[str, str]] = {}  # parameters of the modules run: (owner, name), internal
        self._quiet = _quiet_compile_warning() if not nn_module._has_any_global_hook() else None
        self.entered: Callable[[], None] | None = None  # called after each module is entered (NOTE [lean steady state])
        self._handles: list[Any] = []
        self.resume()

    def pause(self) -> bool:
        """Take the global hooks off while no module runs (NOTE [lean steady state]); False if one runs."""
        if self.stack or not self._handles:
            return False
        for handle in self._handles:
            handle.remove()
        self._handles = []
        return True

    def resume(self) -> None:
        """Put the global hooks (back) on. A module running since ``pause`` is not on the stack: the
        nodes its own code makes before it returns get no module (its submodules get their paths)."""
        if not self._handles:
            self._handles = [
                nn_module.register_module_forward_pre_hook(self._enter),
                nn_module.register_module_forward_hook(self._exit, always_call=True),
            ]

    def _enter(self, module: torch.nn.Module, args: Any) -> None:
        if torch.compiler.is_compiling():  # see NOTE [compiled regions] in tracer.py
            return
        try:
            entry = self._entered(module)
        except Exception:  # provenance is best effort: never break the user's forward
            entry = ("", type(module).__name__, "")  # still pushed: _exit pops one per module
        self.stack.append(entry)
        if self.entered is not None:
            self.entered()

    def _entered(self, module: torch.nn.Module) -> tuple[str, str, str]:
        """The (path, class name, owner) of a module being entered; remembers a new top-level one."""
        if not self.stack:
            within = self._within(module)
            if within is not None:  # a block of a known model, called on its own (NOTE [owners])
                self._roots.append(within[0])
                path = within[1]
            else:
                if module not in self._paths:
                    self._paths[module] = {m: name for name, m in module.named_modules()}
                    self._owners[module] = owner = self._owner_name(module)
                    for name, p in module.named_parameters():
                        self.params.setdefault(id(p), (owner, name))
                self._roots.append(module)
                path = ""
        else:
            parent = self.stack[-1][0]
            known = self._paths[self._roots[-1]].get(module)
            if known is not None:
                path = known
            else:  # a module called from a module it does not belong to
                path = f"{parent}.<{type(module).__name__}>" if parent else f"<{type(module).__name__}>"
        owner = self._owners[self._roots[-1]]
        self.seen.setdefault((owner, path), type(module).__name__)
        return (path, type(module).__name__, owner)

    def _within(self, module: torch.nn.Module) -> tuple[Any, str] | None:
        """(known top-level module, path) of a module that is not itself top-level but a part of
        one seen before; None otherwise."""
        if module in self._paths:
            return None
        for root, paths in self._paths.items():
            path = paths.get(module)
            if path:
                return root, path
        return None

    def _owner_name(self, module: torch.nn.Module) -> str:
        """The variable that holds a top-level module where it is first called (its class name
        if none does), unique among the top-level modules seen (NOTE [owners])."""
        frame = user_frame(2)
        base = (variable_of(frame, module) if frame is not None else "") or type(module).__name__
        del frame
        taken = set(self._owners.values())
        name, k = base, 1
        while name in taken:
            k += 1
            name = f"{base}_{k}"
        return name

    def _exit(self, module: torch.nn.Module, args: Any, output: Any) -> None:
        if torch.compiler.is_compiling():
            return
        if self.stack:
            self.stack.pop()
            if not self.stack and self._roots:
                self._roots.pop()

    def close(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []
        if self._quiet is not None:
            _drop_filter(self._quiet)
            self._quiet = None
        self._paths.clear()
        self._owners.clear()
        self._roots.clear()
        self.params.clear()
        self.stack.clear()


def pure() -> bool:
    """Nodes made now may be called by graphtrace (NOTE [pure nodes] in jacobian.py): no
    saved-tensor hooks (checkpoint, offloading) and no dispatch mode (selective checkpoint)."""
    return _top_saved_hooks(False) is None and _dispatch_modes() == 0


_top_saved_hooks = torch._C._autograd._top_saved_tensors_default_hooks  # bound once: called at every op
_dispatch_modes = torch._C._len_torch_dispatch_stack
_function_modes = torch._C._len_torch_function_stack
_profiling = torch._C._autograd._profiler_enabled


# The sequence number the next autograd node made on this thread will get (no node is made);
# torch's C function itself, as the mode asks it around every op.
next_sequence_nr = torch._C._autograd._get_sequence_nr


# NOTE [lazy forward values]: recording a small forward value takes a dozen torch reductions
# (50-100 µs, many times the op itself) at every op, and most are never drawn. So a contiguous
# CPU tensor of a plain dtype, read where no mode would see our reads, keeps only its values
# (``tolist``: exact) and dtype. When a pass reads the entry, a small float tensor's record is made
# from those values (NOTE [small summaries]: the summary depends on the values alone); any other
# tensor is rebuilt from them (the same values in the same contiguous layout, so the same
# reductions give the same summary) and recorded; were the profiler recording then, it says so
# (``unread``), as a pass's own values do. Any other tensor is recorded at once, as before.
_REBUILT = frozenset(
    {
        *(torch.float16, torch.bfloat16, torch.float32, torch.float64, torch.complex64, torch.complex128),
        *(torch.bool, torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64),
    }
)


def forward_value(t: torch.Tensor, limit: int) -> Any:
    """The value record of a forward output, or what rebuilds it later (NOTE [lazy forward values])."""
    if (
        type(t) is torch.Tensor
        and t.dtype in _REBUILT
        and t.is_cpu
        and t.layout == torch.strided
        and t.is_contiguous()
        and t.numel() > 0
        and not (t.is_conj() or t.is_neg() or t.is_nested or t._is_zerotensor() or wrapped(t))
        and _function_modes() == 0  # inside our mode: no other mode sees us
        and _dispatch_modes() == 0
        and not _profiling()
        and _len_pre_dispatch() == 0
    ):
        return (t.tolist(), t.dtype, limit)
    return record(t, limit)


def _resolved(values: dict[int, Any]) -> dict[int, Any]:
    """``values`` with every value kept for later recorded now (NOTE [lazy forward values])."""
    for nr, value in values.items():
        if type(value) is tuple:
            data, dtype, limit = value
            read = None if _profiling() else record_read(data, dtype, limit)  # no tensor rebuilt
            if read is None:
                with unseen():
                    rebuilt = torch.tensor(data, dtype=dtype)
                read = record(rebuilt, limit)
            values[nr] = read
    return values


# NOTE [our global hooks]: module paths come from global module hooks, and ``torch.compile(module)``
# warns at every call while any global module hook exists ("Using `torch.compile(module)` when there
# are global hooks on modules"). When the hooks are ours alone, that warning speaks of graphtrace,
# not of the user's program, which would not print it under plain python; so while they are
# registered, that one message (attributed to the caller's line, so matched by its text) is
# filtered, and the filter is removed with the hooks. If the user had global hooks of their own
# already, nothing is filtered.
_COMPILE_WARNING = r"Using `torch\.compile\(module\)` when there are global hooks on modules"


def _quiet_compile_warning() -> Any:
    warnings.filterwarnings("ignore", message=_COMPILE_WARNING, category=UserWarning)  # the caller's module
    return warnings.filters[0]


def _drop_filter(entry: Any) -> None:
    """Remove exactly the filter ``_quiet_compile_warning`` added, wherever the list has it now."""
    filters: list[Any] = warnings.filters  # type: ignore[assignment]  # typeshed says Sequence; it is a list
    try:
        filters.remove(entry)
    except ValueError:  # the user's catch_warnings replaced the list meanwhile: nothing of ours is left
        return
    mutated = getattr(warnings, "_filters_mutated", None)
    if mutated is not None:
        mutated()
