"""The ``graphtrace`` command: ``run`` a script under trace(), ``render`` saved passes (thin, over the API)."""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from .. import __version__
from .._errors import GraphtraceError
from .._front_options import DEPTH, MAX_PASSES, VALUES
from .children import ChildRun, run_tracer, spawned_children
from .folder import Folder, open_folder, read_run
from .printing import say
from .ranks import chosen_ranks, rank_folder, ranks_from_env, wait_for_ranks, write_rank_index
from .runner import SIGINT_EXIT, Interrupted, Script
from .runner import run as run_script
from .stop import TermGuard

# NOTE [lazy package] in graphtrace/__init__.py: the writer, summary and checks (networkx,
# graphviz and the renderer behind them) are imported by the commands that use them, so
# ``--help``, ``--version`` and a bad option cost only click.

RUN_FORMATS = ("svg", "json", "html")
RENDER_FORMATS = ("svg", "html")
USAGE_EXIT = 2  # graphtrace itself could not do what was asked (bad input, unwritable folder, ...)


class _OneLineErrors(click.Group):
    """A click group whose errors are one line: ``graphtrace: error: ...`` and exit 2."""

    def main(
        self,
        args: Any = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        try:
            code = super().main(args, prog_name or "graphtrace", complete_var, standalone_mode=False, **extra)
        except click.UsageError as exc:
            hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
            say(f"graphtrace: error: {exc.format_message()}{hint}")
            code = USAGE_EXIT
        except click.ClickException as exc:
            say(f"graphtrace: error: {exc.format_message()}")
            code = exc.exit_code
        except GraphtraceError as exc:
            say(f"graphtrace: error: {exc}")
            code = USAGE_EXIT
        except (click.Abort, KeyboardInterrupt):
            say("graphtrace: interrupted")
            code = SIGINT_EXIT
        code = code if isinstance(code, int) else 0
        if standalone_mode:
            sys.exit(code)
        return code


_F = TypeVar("_F", bound=Callable[..., Any])


def _formats_option(default: tuple[str, ...]) -> Callable[[_F], _F]:
    return click.option(
        "--format",
        "-f",
        "formats",
        multiple=True,
        metavar="FMT",
        help=f"Files to write per pass: svg, png, pdf, dot, json, html; repeat or comma-separate "
        f"(default: {','.join(default)}).",
    )


_out_option = click.option(
    "--out", "-o", type=click.Path(file_okay=False, path_type=Path), help="Folder to write into."
)
_depth_option = click.option(DEPTH.flag, type=click.IntRange(min=DEPTH.minimum), metavar=DEPTH.metavar, help=DEPTH.help)
_open_option = click.option("--open", "open_index", is_flag=True, help="Open index.html in a browser.")
_quiet_option = click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors.")
_force_option = click.option(
    "--force", is_flag=True, help="Write into a non-empty folder graphtrace did not make (its other files are kept)."
)


@click.group(cls=_OneLineErrors, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="graphtrace", message="%(prog)s %(version)s")
def cli() -> None:
    """See PyTorch autograd: every backward pass of a program drawn as a graph, with its numbers.

    \b
      graphtrace run train.py --epochs 1     trace a script, write outputs/train/
      graphtrace render outputs/train/pass-001.json --format png
    """


# everything from SCRIPT on is the script's, options or not; an unknown option before it is ours to refuse
@cli.command(context_settings={"allow_interspersed_args": False})
@_out_option
@_formats_option(RUN_FORMATS)
@click.option(
    MAX_PASSES.flag, type=click.IntRange(min=MAX_PASSES.minimum), metavar=MAX_PASSES.metavar, help=MAX_PASSES.help
)
@click.option(f"{VALUES.flag}/{VALUES.off}", default=True, show_default=True, help=VALUES.help)
@_depth_option
@_open_option
@_quiet_option
@_force_option
@click.option(
    "--ranks",
    "ranks_option",
    metavar="LIST",
    help="Under torchrun: the ranks that trace, e.g. 0,1,-1 "
    "(negative: from the last); the others run the script untraced (default: all).",
)
@click.option(
    "--check",
    is_flag=True,
    help="Check each small node's backward against finite differences of its "
    "forward call; mismatches are drawn red and listed after the summary.",
)
@click.argument("script", type=click.Path(dir_okay=True, path_type=str))
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def run(
    script: str,
    args: tuple[str, ...],
    out: Path | None,
    formats: tuple[str, ...],
    max_passes: int | None,
    values: bool,
    depth: int | None,
    open_index: bool,
    quiet: bool,
    force: bool,
    ranks_option: str | None,
    check: bool,
) -> int:
    """Run SCRIPT [ARGS...] as `python SCRIPT ARGS...` would, and draw every backward pass.

    Writes pass-001.svg, pass-001.json and pass-001.html (a step-through page) per pass and an
    index.html into outputs/<script name>/ (or --out). The first 20 passes are all written;
    after them, passes of the same structure are grouped: of each group its first pass and its
    latest recorded in full (its 1st, 2nd, 4th, 8th, ... pass, every 1024th) are written, the
    others only counted (their gradient statistics are in index.html). The exit code is the
    script's own. Options go before SCRIPT; everything after it is passed to the script.

    \b
    Example:
      graphtrace run examples/seed000_chain_rule.py
      graphtrace run --format svg,png --max-passes 50 train.py --lr 0.1
    """
    from .writer import parse_formats

    fmts = parse_formats(formats, RUN_FORMATS)
    target = Script(script, args)  # a missing, binary or syntactically wrong script: one line
    folder = out if out is not None else Path("outputs") / target.stem
    ranks = ranks_from_env()  # NOTE [a folder per rank]
    parent, chosen = None, []
    if ranks is not None:
        rank, world = ranks
        chosen = chosen_ranks(ranks_option, world)
        if rank not in chosen:
            return run_script(target)  # an untraced rank runs as under plain python
        if rank == chosen[0]:
            parent = open_folder(folder, force=force, inputs=tuple(rank_folder(folder, r) for r in range(world)))
        folder = rank_folder(folder, rank)
    held = open_folder(folder, force=force, clean=True)  # NOTE [marked folders]
    try:
        return _run(target, held, fmts, max_passes, values, depth, open_index, quiet, check)
    finally:
        held.close()
        if parent is not None and ranks is not None:
            _index_ranks(parent, ranks[1], chosen, quiet)


def _index_ranks(parent: Folder, world: int, chosen: list[int], quiet: bool) -> None:
    """The first traced rank's index of all (NOTE [a folder per rank]); a fault here is a warning, never the job's."""
    from .summary import shown_path

    try:
        late = wait_for_ranks(parent.path, chosen[1:])
        write_rank_index(parent.path, world, late, chosen)
        if not quiet:
            say(
                f"graphtrace: {world} ranks: open {shown_path(parent.path / 'index.html')}"
                + (f" (ranks {', '.join(map(str, late))} did not finish in time)" if late else "")
            )
    except (OSError, GraphtraceError) as exc:
        say(f"graphtrace: warning: the index of all ranks was not written: {exc}")
    finally:
        parent.close()


def _run(
    target: Script,
    held: Folder,
    fmts: tuple[str, ...],
    max_passes: int | None,
    values: bool,
    depth: int | None,
    open_index: bool,
    quiet: bool,
    check: bool = False,
) -> int:
    from ..render import _drawer
    from .checks import CheckReport
    from .summary import not_drawn_lines, report, shown_path, stop_notes
    from .writer import Writer

    script, args, folder = target.given, target.args, held.path
    if any(f not in ("json", "dot") for f in fmts):
        _drawer.start()  # before torch and the script: NOTE [drawer]
    writer = Writer(folder, fmts, depth=depth, max_passes=max_passes)
    checks = CheckReport() if check else None

    try:
        tracer = run_tracer(writer.add if checks is None else checks.tee(writer.add), values, max_passes, check, writer)
    except ImportError as exc:
        raise GraphtraceError(f"cannot trace: {exc} (is torch installed in this Python?)") from None
    shown = " ".join(shlex.quote(a) for a in ("graphtrace", "run", shown_path(script), *args))
    child_run = ChildRun(
        base=str(writer.out),
        formats=list(fmts),
        depth=depth,
        max_passes=max_passes,
        values=values,
        check=check,
        started=writer.started,
        parent_rank=None,
        title=shown_path(script),
        command=shown,
    )

    def stopped_by(name: str) -> None:  # NOTE [stopped by a signal]
        writer.finish(
            title=shown_path(script),
            command=shown,
            notes=[
                f"The script was stopped by {name} after {writer.count + writer.skipped} passes; "
                "those are written here."
            ],
        )
        report(writer, folder, quiet, not_drawn_lines(tracer.not_drawn))

    code, interrupted = SIGINT_EXIT, True
    guard = TermGuard(stopped_by)
    try:
        with guard, spawned_children(child_run):  # NOTE [spawned children]
            code = run_script(target, lambda: tracer)
        interrupted = False
    finally:  # passes recorded before a crash, sys.exit or Ctrl-C are written with the index
        notes = stop_notes(code, interrupted, writer.count + writer.skipped)
        try:
            writer.finish(title=shown_path(script), command=shown, notes=notes)
        finally:
            _drawer.stop()
    if writer.child:  # a child forked by the script ends here, as under python (NOTE [forked children])
        return code
    not_drawn = not_drawn_lines(tracer.not_drawn) + (checks.lines() if checks is not None else [])
    try:
        if writer.count == 0 and not writer.skipped and not writer.children:
            held.remove_if_empty()
            if not quiet:  # a summary like report's, not an error: -q prints nothing
                say(f"graphtrace: {shown_path(script)} ran no backward pass; nothing to draw")
                for line in not_drawn:
                    say(f"graphtrace: {line}")
            return code
        failed = report(writer, folder, quiet, not_drawn)
        if open_index:
            _open_index(folder)
    finally:
        guard.done()
    return USAGE_EXIT if failed and code == 0 else code


@cli.command()
@click.argument("traces", nargs=-1, required=True, metavar="TRACE.json...", type=click.Path(path_type=Path))
@_out_option
@_formats_option(RENDER_FORMATS)
@_depth_option
@_open_option
@_quiet_option
@_force_option
def render(
    traces: tuple[Path, ...],
    out: Path | None,
    formats: tuple[str, ...],
    depth: int | None,
    open_index: bool,
    quiet: bool,
    force: bool,
) -> int:
    """Draw saved passes again from TRACE.json files (pass or trace JSON), without torch.

    Files go next to the first TRACE file unless --out is given: one file per pass and
    format, named by the pass's index (pass-001.svg), and index.html.

    \b
    Example:
      graphtrace render outputs/seed000_chain_rule/pass-001.json --format png --out /tmp/x
    """
    from .. import load
    from ..render import _kept

    _kept.allow()  # no user code runs here (NOTE [kept dot])
    from .summary import shown_path
    from .writer import parse_formats

    fmts = parse_formats(formats, RENDER_FORMATS)
    loaded = [p for path in traces for p in load(path)]  # TraceFormatError: one line, exit 2
    if not loaded:
        raise GraphtraceError(f"{', '.join(map(shown_path, traces))} holds no passes; nothing to draw")
    folder = out if out is not None else traces[0].parent
    numbers = [p.index for p in loaded]
    if len(set(numbers)) != len(numbers) or min(numbers, default=1) < 1:
        numbers = list(range(1, len(loaded) + 1))  # indices clash across files: number in order
    if "json" in fmts:
        _never_replace_an_input(folder, numbers, traces)
    held = open_folder(folder, force=force, inputs=traces)  # NOTE [marked folders]
    try:
        previous = read_run(folder)  # a run folder: its index keeps every pass and statistic
        return _render(loaded, numbers, traces, folder, fmts, depth, open_index, quiet, previous)
    finally:
        held.close()


def _never_replace_an_input(folder: Path, numbers: list[int], traces: tuple[Path, ...]) -> None:
    from .index import file_name
    from .summary import shown_path

    inputs = {os.path.realpath(t) for t in traces}
    for n in numbers:
        target = folder / file_name(n, "json")
        if os.path.realpath(target) in inputs:
            raise GraphtraceError(
                f"-f json would replace the input {shown_path(target)} with itself redrawn; choose another --out"
            )


def _render(
    loaded: list[Any],
    numbers: list[int],
    traces: tuple[Path, ...],
    folder: Path,
    fmts: tuple[str, ...],
    depth: int | None,
    open_index: bool,
    quiet: bool,
    previous: dict[str, Any] | None,
) -> int:
    from .summary import problems, shown_path, summary
    from .writer import Writer

    writer = Writer(folder, fmts, depth=depth, previous=previous)
    try:
        for p, n in sorted(zip(loaded, numbers), key=lambda pn: pn[1]):
            writer.add(p, n)
    finally:
        shown = " ".join(shlex.quote(a) for a in ("graphtrace", "render", *map(shown_path, traces)))
        writer.finish(title=", ".join(shown_path(t) for t in traces), command=shown, notes=[])
    if not quiet:
        summary(writer, folder)
    failed = problems(writer, warn_dot=False)
    if open_index:
        _open_index(folder)
    return USAGE_EXIT if failed or writer.no_dot else 0


def _open_index(folder: Path) -> None:
    import webbrowser

    webbrowser.open((folder / "index.html").absolute().as_uri())


def main() -> None:
    """Console entry point (``graphtrace`` and ``python -m graphtrace``)."""
    try:
        cli.main(prog_name="graphtrace")
    except SystemExit as exc:
        if not isinstance(exc.code, Interrupted):
            raise
    # NOTE [exit by SIGINT]: Python ends a program stopped by an uncaught KeyboardInterrupt by
    # killing itself with SIGINT once it has finalized (atexit handlers run), so the parent sees
    # a death by signal (-2 in subprocess; a shell's loop stops at Ctrl-C), not exit code 130.
    # The same path is taken here: the traceback was printed already, so the interpreter's own
    # print is silenced, and the KeyboardInterrupt leaves graphtrace's entry uncaught.
    sys.excepthook = lambda *exc: None
    raise KeyboardInterrupt
