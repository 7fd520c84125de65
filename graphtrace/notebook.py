"""Notebook display: ``show()`` (SVG or an inline step-through page) and the ``%%graphtrace`` cell magic."""

from __future__ import annotations

import ast
from collections.abc import Iterable
from typing import Any

from ._errors import GraphtraceError
from ._front_options import DEPTH, MAX_PASSES, VALUES
from .model import Pass, Trace
from .render.display import STEP_HEIGHT, pass_bundle


class Inline:
    """One pass as a notebook display object: static SVG, or the step-through page in a frame."""

    def __init__(self, p: Pass, *, step: bool = False, height: int = STEP_HEIGHT, **options: Any) -> None:
        if not isinstance(p, Pass):
            raise GraphtraceError(f"can only display a Pass, not {type(p).__name__}")
        if not isinstance(height, int) or isinstance(height, bool) or height < 1:
            raise GraphtraceError(f"height must be a positive int (pixels), not {height!r}")
        self.p, self.step, self.height, self.options = p, step, height, options

    def __repr__(self) -> str:
        return repr(self.p)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        return pass_bundle(self.p.graph, repr(self), step=self.step, height=self.height, **self.options)


def _passes(obj: Any) -> list[Pass]:
    if isinstance(obj, Pass):
        return [obj]
    if isinstance(obj, Trace):
        return list(obj.passes)
    if isinstance(obj, (list, tuple)) and all(isinstance(p, Pass) for p in obj):
        return list(obj)
    raise GraphtraceError(f"show() takes a Pass, a Trace or a list of passes, not {type(obj).__name__}")


def _display(items: Iterable[Any]) -> None:
    from IPython import get_ipython
    from IPython.display import display

    if get_ipython() is None:
        raise GraphtraceError(
            "show() displays in a notebook or IPython; elsewhere save the pass instead, "
            "e.g. p.save('pass.html') or p.save('pass.svg')"
        )
    for item in items:
        display(item)


def show(obj: Any, *, step: bool = False, height: int = STEP_HEIGHT, **options: Any) -> None:
    """Display a pass, or every pass of a trace, in the notebook now.

    ``step=True`` shows the step-through page (buttons or arrow keys walk the backward
    pass) in a frame ``height`` pixels tall; otherwise the static SVG. ``options`` go to
    the renderer: ``values``, ``depth``, ``clusters``, ``expand``, ``fold``, ``budget``.
    """
    items = [Inline(p, step=step, height=height, **options) for p in _passes(obj)]
    _display(items)
    if not items:
        print(f"graphtrace: {obj!r} holds no backward pass to show")


# -- the %%graphtrace cell magic ---------------------------------------------------------

MAX_PASSES_SHOWN = 20  # passes a %%graphtrace cell keeps and shows unless --max-passes says otherwise


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext graphtrace``: registers the ``%%graphtrace`` cell magic."""
    ipython.register_magics(_magics_class())


def _magics_class() -> type:
    """The Magics class, built on first use so importing graphtrace never imports IPython."""
    from IPython.core.magic import Magics, cell_magic, magics_class
    from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring

    magic: Any = cell_magic  # IPython types it through an unbound TypeVar (a Never argument)

    @magics_class
    class GraphtraceMagics(Magics):
        @magic_arguments()
        @argument(
            "--name",
            default="_graphtrace",
            metavar="VAR",
            help="variable that receives the trace (default: _graphtrace)",
        )
        @argument(
            MAX_PASSES.flag,
            type=int,
            default=MAX_PASSES_SHOWN,
            metavar=MAX_PASSES.metavar,
            help=f"{MAX_PASSES.help} (default: {MAX_PASSES_SHOWN})",
        )
        @argument(VALUES.off, action="store_true", help=VALUES.help)
        @argument(DEPTH.flag, type=int, default=None, metavar=DEPTH.metavar, help=DEPTH.help)
        @argument("--clusters", action="store_true", help="draw boxes around the ops of each module")
        @argument("--html", action="store_true", help="show step-through pages instead of static SVG")
        @argument(
            "--height",
            type=int,
            default=STEP_HEIGHT,
            metavar="PX",
            help=f"height of each step-through frame with --html (default: {STEP_HEIGHT})",
        )
        @magic("graphtrace")
        def graphtrace_magic(self, line: str, cell: str) -> Any:
            """Run the cell under graphtrace.trace() and show every backward pass it ran."""
            __tracebackhide__ = True  # IPython leaves this frame out of the cell's traceback
            args = parse_argstring(GraphtraceMagics.graphtrace_magic, line)
            return _run_magic(self.shell, args, cell)

    return GraphtraceMagics


def _check(args: Any) -> None:
    from IPython.core.error import UsageError

    if not args.name.isidentifier():
        raise UsageError(f"--name must be a Python variable name, not {args.name!r}")
    try:
        MAX_PASSES.check(args.max_passes)
        DEPTH.check(args.depth)
    except GraphtraceError as exc:
        raise UsageError(str(exc)) from None
    if args.height < 1:
        raise UsageError(f"--height must be at least 1, not {args.height}")


def _run_magic(shell: Any, args: Any, cell: str) -> Any:
    """Trace ``cell``, store the trace in ``args.name``, show its passes, return the cell's value."""
    __tracebackhide__ = True
    import graphtrace

    _check(args)
    tracer = graphtrace.trace(values=not args.no_values, keep=args.max_passes)
    shell.user_ns[args.name] = tracer.trace
    options: dict[str, Any] = {"values": not args.no_values, "clusters": args.clusters}
    if args.depth is not None:
        options["depth"] = args.depth
    finished = False
    try:
        with tracer:
            value = _run_cell(shell, cell)
        finished = True
    finally:  # passes that ran before an error are shown too; the error then propagates
        _show_passes(tracer.trace, args, options, finished)
    return value


def _show_passes(trace: Trace, args: Any, options: dict[str, Any], finished: bool) -> None:
    from IPython.display import display

    kept = trace.passes
    for p in kept:
        display(Inline(p, step=args.html, height=args.height, **options))
    if trace.count > len(kept):
        print(
            f"graphtrace: {trace.count} backward passes ran; the first {len(kept)} are shown "
            f"and kept in {args.name} (--max-passes {args.max_passes})"
        )
    elif trace.count == 0 and finished:
        print(f"graphtrace: no backward pass ran in this cell ({args.name} is an empty trace)")


def _run_cell(shell: Any, cell: str) -> Any:
    """Run cell code in the user's namespace like a normal cell; return its last expression's value."""
    __tracebackhide__ = True
    source = shell.transform_cell(cell)
    filename = shell.compile.cache(source)  # linecache entry, so tracebacks show the cell's lines
    tree = shell.transform_ast(shell.compile.ast_parse(source, filename=filename))
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr) and not source.rstrip().endswith(";"):
        last = ast.Expression(tree.body.pop().value)
    exec(shell.compile(tree, filename, "exec"), shell.user_global_ns, shell.user_ns)
    if last is None:
        return None
    return eval(shell.compile(last, filename, "eval"), shell.user_global_ns, shell.user_ns)
