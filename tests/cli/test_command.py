"""The graphtrace command in-process (click's CliRunner): run, render, options, faults, exit codes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

import graphtrace
from graphtrace import render
from graphtrace.cli import writer as _cli_writer
from graphtrace.cli.command import cli

CHAIN = """
import torch
x = torch.tensor(7.0, requires_grad=True)
y = x**3 + 4
z = torch.sin(y)
z.backward()
print(f"dz/dx = {x.grad.item():.6f}")
"""

TWO_THEN = """
import torch
x = torch.tensor(2.0, requires_grad=True)
(x * x).backward()
(x * 3).backward()
{tail}
"""

LOOP = """
import sys
import torch
w = torch.tensor([1.0, -2.0, 0.5], requires_grad=True)
for step in range(int(sys.argv[1])):
    loss = ((w * {k}) ** 2).sum()
    loss.backward()
    if step == 9:
        (w.sum() * 2).backward()  # one pass of another structure in the middle
"""


def invoke(*args: str, **kw) -> object:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False, **kw)


def write(tmp_path: Path, text: str, name: str = "prog.py") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def node(pass_json: Path, name: str) -> dict:
    data = json.loads(pass_json.read_text())
    return next(n for n in data["nodes"] if n["name"] == name and n["kind"] == "leaf")


def one_error_line(result: object, text: str) -> None:
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("graphtrace: error: ") and text in result.stderr, result.stderr
    assert "Traceback" not in result.output


# -- basics -------------------------------------------------------------------------------------


def test_version_and_help_show_an_example() -> None:
    result = invoke("--version")
    assert result.exit_code == 0 and result.stdout == f"graphtrace {graphtrace.__version__}\n"
    for args, examples in (
        (["--help"], ["run", "render"]),
        (["run", "--help"], ["run"]),
        (["render", "--help"], ["render"]),
    ):
        result = invoke(*args)
        assert result.exit_code == 0, result.output
        assert all(f"    graphtrace {command} " in result.stdout for command in examples), result.stdout
    assert "examples/seed000_chain_rule.py" in invoke("run", "--help").stdout


def test_our_frames_are_told_by_where_the_package_is(our_frames) -> None:
    package = Path(graphtrace.__file__).resolve().parent
    text = (
        f'Traceback (most recent call last):\n  File "{package / "cli" / "runner.py"}", line 9, in run\n'
        '  File "/home/me/graphtrace/.venv/lib/python3.11/site-packages/torch/_tensor.py", line 5, in backward\n'
        '  File "/home/me/graphtrace/train.py", line 3, in <module>\n'
    )
    assert our_frames(text) == [str(package / "cli" / "runner.py")]


def test_formats_parse_from_repeats_and_commas() -> None:
    assert _cli_writer.parse_formats(("svg,png", "json", " PDF "), ("svg",)) == ("svg", "png", "pdf", "json")
    assert _cli_writer.parse_formats((), ("svg", "json", "html")) == ("svg", "json", "html")


@pytest.mark.dot
def test_run_writes_json_svg_html_and_index(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = invoke("run", "--out", str(out), write(tmp_path, CHAIN))
    assert result.exit_code == 0, result.output
    assert result.stdout == "dz/dx = 21.384121\n"  # the script's stdout, untouched
    assert sorted(p.name for p in out.iterdir()) == [
        ".graphtrace",
        "index.html",
        "pass-001.html",
        "pass-001.json",
        "pass-001.svg",
        "run.json",
    ]
    x = node(out / "pass-001.json", "x")
    assert x["grad_in"][0]["values"] == pytest.approx(21.384121, abs=1e-5)
    assert "21.384" in (out / "pass-001.svg").read_text()
    assert "21.384" in (out / "pass-001.html").read_text()
    index = (out / "index.html").read_text()
    assert 'href="pass-001.html"' in index and 'src="pass-001.svg"' in index and "prog.py:6" in index
    assert "1 backward pass, 1 written to" in result.stderr and "prog.py:6" in result.stderr


def test_quiet_prints_nothing_and_json_only_needs_no_dot(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = invoke("run", "-q", "-f", "json", "-o", str(out), write(tmp_path, CHAIN))
    assert result.exit_code == 0 and result.stderr == ""
    assert sorted(p.name for p in out.iterdir()) == [".graphtrace", "index.html", "pass-001.json", "run.json"]


def test_no_values_records_structure_only(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert invoke("run", "-q", "--no-values", "-f", "json", "-o", str(out), write(tmp_path, CHAIN)).exit_code == 0
    assert node(out / "pass-001.json", "x")["grad_in"] == [None]


def test_depth_goes_to_the_renderer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = []
    real = render.view  # the writer reduces each pass once, then draws that view (render.view)
    monkeypatch.setattr(render, "view", lambda g, **kw: seen.append(kw) or real(g, **kw))
    out = tmp_path / "out"
    assert invoke("run", "-q", "--depth", "1", "-f", "dot", "-o", str(out), write(tmp_path, CHAIN)).exit_code == 0
    assert seen == [{"depth": 1}] and (out / "pass-001.dot").read_text().startswith("digraph")


def test_open_opens_the_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    opened = []
    monkeypatch.setattr("webbrowser.open", opened.append)
    out = tmp_path / "out"
    assert invoke("run", "-q", "--open", "-f", "json", "-o", str(out), write(tmp_path, CHAIN)).exit_code == 0
    assert opened == [(out / "index.html").absolute().as_uri()]


def test_arguments_after_the_script_are_the_scripts(tmp_path: Path) -> None:
    text = "import sys\nprint(sys.argv[1:])\n"
    result = invoke("run", "-q", "-o", str(tmp_path / "o"), write(tmp_path, text), "--out", "x", "-q", "--bogus", "--")
    assert result.exit_code == 0 and result.stdout == "['--out', 'x', '-q', '--bogus', '--']\n"
    result = invoke("run", "-q", "-o", str(tmp_path / "o"), "--", write(tmp_path, text), "--", "-x")
    assert result.exit_code == 0 and result.stdout == "['--', '-x']\n"


def test_default_folder_is_outputs_slash_stem(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, CHAIN, "chain.py")
    assert invoke("run", "-f", "json", "chain.py").exit_code == 0
    assert (tmp_path / "outputs" / "chain" / "pass-001.json").exists()
    assert json.loads((tmp_path / "outputs/chain/pass-001.json").read_text())["graph"]["call_site"] == "chain.py:6"


def test_a_script_that_changes_folder_still_writes_to_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "elsewhere").mkdir()
    write(tmp_path, "import os\nos.chdir('elsewhere')\n" + CHAIN, "moves.py")
    assert invoke("run", "-q", "-f", "json", "-o", "out", "moves.py").exit_code == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        ".graphtrace",
        "index.html",
        "pass-001.json",
        "run.json",
    ]
    assert not any((tmp_path / "elsewhere").iterdir())


def test_a_folder_of_the_users_files_is_refused_before_the_script_runs(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "index.html").write_text("my own page")
    (out / "pass-001.svg").write_text("my own drawing")
    result = invoke("run", "-o", str(out), write(tmp_path, CHAIN))
    assert result.exit_code == 2 and result.stdout == ""  # the script never ran
    one_error_line(result, f"{out} is not empty and was not made by graphtrace (index.html, pass-001.svg)")
    assert "--force" in result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["index.html", "pass-001.svg"]
    assert (out / "index.html").read_text() == "my own page"


def test_force_marks_the_folder_and_keeps_files_of_other_names(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert invoke("run", "-q", "--force", "-f", "json", "-o", str(out), write(tmp_path, CHAIN)).exit_code == 0
    assert sorted(p.name for p in out.iterdir()) == [
        ".graphtrace",
        "index.html",
        "notes.txt",
        "pass-001.json",
        "run.json",
    ]
    assert (out / "notes.txt").read_text() == "mine"


def test_a_marked_folder_has_its_earlier_files_replaced(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert invoke("run", "-q", "-f", "json", "-o", str(out), write(tmp_path, TWO_THEN.format(tail=""))).exit_code == 0
    (out / "notes.txt").write_text("mine")
    (out / ".pass-009.json.1a2b3c4d.part").write_text("half")  # a temporary file of a killed run
    assert invoke("run", "-q", "-f", "json", "-o", str(out), write(tmp_path, CHAIN)).exit_code == 0
    assert sorted(p.name for p in out.iterdir()) == [
        ".graphtrace",
        "index.html",
        "notes.txt",
        "pass-001.json",
        "run.json",
    ]


def test_two_commands_never_write_into_one_folder_at_once(tmp_path: Path) -> None:
    from graphtrace.cli.folder import open_folder

    out = tmp_path / "out"
    held = open_folder(out)  # another run, still writing
    try:
        result = invoke("run", "-f", "json", "-o", str(out), write(tmp_path, CHAIN))
        assert result.exit_code == 2 and result.stdout == ""
        one_error_line(result, f"another graphtrace command is writing to {out}")
        result = invoke("render", "-f", "dot", "-o", str(out), write(tmp_path, "{}", "t.json"))
        assert result.exit_code == 2  # render too (the bad input is not even read: the folder comes first)
    finally:
        held.close()
    assert sorted(p.name for p in out.iterdir()) == [".graphtrace"]
    assert invoke("run", "-q", "-f", "json", "-o", str(out), write(tmp_path, CHAIN)).exit_code == 0


# -- training loops: bounded output ----------------------------------------------------------


def test_long_loops_write_the_first_20_then_the_first_and_latest_full_pass_of_each_structure(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = invoke("run", "-f", "json", "-o", str(out), write(tmp_path, LOOP.format(k=3)), "40")
    assert result.exit_code == 0, result.output
    written = sorted(int(p.stem[5:]) for p in out.glob("pass-*.json"))
    # 41 passes: 1-10 loop, 11 the odd one, 12-41 loop; after 20: group 21..41, whose 1st, 2nd,
    # 4th, 8th and 16th passes (21, 22, 24, 28, 36) are recorded in full -> 21 and 36 written,
    # the other 16 only counted (NOTE [which passes are written])
    assert written == [*list(range(1, 22)), 36]
    index = (out / "index.html").read_text()
    assert "41 backward passes ran, 22 written (grouped by structure after the first 20); 16 of the" in index
    assert "<td>21&ndash;41</td>" in index and '<td class="num">21</td>' in index
    assert '<a href="#pass-21">21</a>, <a href="#pass-36">36</a></td><td class="num">16</td>' in index
    run = json.loads((out / "run.json").read_text())
    assert [(g["first"], g["last"], g["count"], g["drawn"], g["counted"]) for g in run["groups"]] == [
        (21, 41, 21, [21, 36], 16)
    ]
    assert "passes 21-41 (21 of one structure): written 21 and 36; 16 only counted" in result.stderr
    assert "Gradient flow" in index  # w, a named leaf, in 40 passes: a training loop
    assert re.search(r"passes\s+kind", result.stderr) and "1-10" in result.stderr and "12-41" in result.stderr


def test_gradient_flow_stats_are_mean_rms_and_max_abs(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert invoke("run", "-q", "-f", "json", "-o", str(out), write(tmp_path, LOOP.format(k=1)), "25").exit_code == 0
    index = (out / "index.html").read_text()
    # loss = sum(w**2): grad 2w = [2, -4, 1] on each of 25 passes; plus one pass of w.sum()*2: grad [2, 2, 2].
    # w's grad_in is the increment of each pass, so rms = mean(sqrt(21/3) * 25, 2) and max = 4
    rms = (25 * (21 / 3) ** 0.5 + 2) / 26
    assert f"rms {rms:.3g} · max 4" in index


def test_max_passes_counts_the_rest(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = invoke("run", "--max-passes", "3", "-f", "json", "-o", str(out), write(tmp_path, LOOP.format(k=1)), "8")
    assert result.exit_code == 0
    assert sorted(p.name for p in out.glob("pass-*")) == ["pass-001.json", "pass-002.json", "pass-003.json"]
    assert result.stderr.startswith("graphtrace: 8 backward passes, 3 written to ")
    assert "passes 4-8 ran after --max-passes 3: only counted" in result.stderr
    index = (out / "index.html").read_text()
    assert "8 backward passes ran, 3 written; 5 after --max-passes only counted" in index
    assert "5 more passes ran after --max-passes 3; they were only counted" in index


# -- faults of the script: its exit code, nothing lost ---------------------------------------------


@pytest.mark.parametrize(
    "tail, code",
    [
        ("import sys\nsys.exit(3)", 3),
        ("raise KeyboardInterrupt", 130),
        ("def f():\n    raise ValueError('boom')\nf()", 1),
    ],
)
def test_passes_before_a_stop_are_written_with_the_index(tmp_path: Path, tail: str, code: int, our_frames) -> None:
    out = tmp_path / "out"
    result = invoke("run", "-f", "json,dot", "-o", str(out), write(tmp_path, TWO_THEN.format(tail=tail)))
    assert result.exit_code == code
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        ".graphtrace",
        "index.html",
        "pass-001.dot",
        "pass-001.json",
        "pass-002.dot",
        "pass-002.json",
        "run.json",
    ]
    assert "2 backward passes, 2 written" in result.stderr
    index = (out / "index.html").read_text()
    assert ("interrupted (Ctrl-C) after 2 passes" if code == 130 else f"exit code {code}") in index
    if code == 1:
        assert "ValueError: boom" in result.stderr and ", in f\n" in result.stderr
        assert "File" in result.stderr and our_frames(result.stderr) == [] and "runpy" not in result.stderr


def test_a_failing_backward_is_kept_as_a_pass_with_its_error(tmp_path: Path, our_frames) -> None:
    text = "import torch\nx = torch.ones(2, requires_grad=True)\n(x * 2).backward()\n"
    out = tmp_path / "out"
    result = invoke("run", "-f", "json", "-o", str(out), write(tmp_path, text))
    assert result.exit_code == 1
    assert result.stderr.startswith("Traceback") and "grad can be implicitly created only for scalar" in result.stderr
    assert "File" in result.stderr and "overrides.py" not in result.stderr and our_frames(result.stderr) == []
    assert "RuntimeError" in json.loads((out / "pass-001.json").read_text())["graph"]["error"]


def test_a_script_without_backward_says_so(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = invoke("run", "-o", str(out), write(tmp_path, "print('hello')\n", "plain.py"))
    assert result.exit_code == 0 and result.stdout == "hello\n"
    assert result.stderr == f"graphtrace: {tmp_path / 'plain.py'} ran no backward pass; nothing to draw\n"
    assert not out.exists()


def test_quiet_says_nothing_of_a_script_without_backward(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = invoke("run", "-q", "-o", str(out), write(tmp_path, "print('hello')\nraise SystemExit('bad config')\n"))
    assert (result.exit_code, result.stdout, result.stderr) == (1, "hello\n", "bad config\n")  # as under python
    assert not out.exists()


def test_a_full_disk_leaves_no_temporary_file_and_says_what_was_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from graphtrace import _files

    real = _files._write_all

    def fills_up(f: object, raw: bytes) -> None:
        if not raw.startswith(b'{"edges":'):  # the passes' JSON fits, nothing else does
            raise OSError(28, "No space left on device")
        real(f, raw)

    monkeypatch.setattr(_files, "_write_all", fills_up)
    out = tmp_path / "o"
    result = invoke("run", "-f", "json,dot", "-o", str(out), write(tmp_path, TWO_THEN.format(tail="")))
    assert result.exit_code == 2  # the script ran to its end (0); graphtrace could not write everything
    assert sorted(p.name for p in out.iterdir()) == [".graphtrace", "pass-001.json", "pass-002.json"]
    errors = [ln for ln in result.stderr.splitlines() if ln.startswith("graphtrace: error")]
    assert errors == [
        (
            f"graphtrace: error: No space left on device: wrote 2 of 6 files to {out}/; not written: "
            "index.html, pass-001.dot, pass-002.dot and 1 more"
        )
    ]
    assert "open " not in result.stderr  # no index to open


# -- faults of the input: one line, exit 2 ------------------------------------------------------


def test_bad_inputs_are_one_line(tmp_path: Path) -> None:
    good = write(tmp_path, CHAIN)
    (tmp_path / "blob.py").write_bytes(bytes(range(256)))
    (tmp_path / "afile").write_text("")
    cases = [
        (["run", str(tmp_path / "nope.py")], "nope.py: no such file"),
        (["run", str(tmp_path)], "is a folder"),
        (["run", str(tmp_path / "blob.py")], "is not a Python script"),
        (["run", "-f", "svg,gif", good], "unknown format 'gif' (choose from svg, png, pdf, dot, json, html)"),
        (["run", "-o", str(tmp_path / "afile" / "sub"), good], "cannot write to"),
        (["run", "-o", str(tmp_path / "afile"), good], "Directory"),
        (["run", "--max-passes", "0", good], "--max-passes"),
        (["run"], "Missing argument 'SCRIPT'"),
        (["frobnicate"], "No such command 'frobnicate'"),
        (["run", "--bogus", good], "No such option '--bogus'"),  # not a script named --bogus
        (["run", "-q", "-x", good], "No such option '-x'"),
    ]
    for args, text in cases:
        result = invoke(*args)
        assert result.exit_code == 2, (args, result.output)
        one_error_line(result, text)


@pytest.mark.parametrize(
    "args",
    [["run", "--depth", "0"], ["run", "--depth", "-1"], ["run", "--max-passes", "0"], ["run", "--depth", "many"]],
)
def test_options_are_checked_before_the_script_runs(tmp_path: Path, args: list[str]) -> None:
    result = invoke(*args, "-o", str(tmp_path / "o"), write(tmp_path, CHAIN))
    assert result.exit_code == 2 and result.stdout == ""  # the script never ran
    one_error_line(result, f"Invalid value for '{args[1]}'")
    assert not (tmp_path / "o").exists()


def test_render_checks_depth_too(tmp_path: Path) -> None:
    assert invoke("run", "-q", "-f", "json", "-o", str(tmp_path / "o"), write(tmp_path, CHAIN)).exit_code == 0
    result = invoke("render", "--depth", "0", "-f", "dot", str(tmp_path / "o" / "pass-001.json"))
    assert result.exit_code == 2 and not (tmp_path / "o" / "pass-001.dot").exists()
    one_error_line(result, "Invalid value for '--depth'")


def test_run_render_and_the_magic_share_one_definition_of_each_option() -> None:
    import click as _click

    from graphtrace import _front_options as _options
    from graphtrace.notebook import _magics_class

    magic = {a.option_strings[0]: a for a in _magics_class().graphtrace_magic.parser._actions}
    for command in ("run", "render"):
        params = {p.opts[0]: p for p in cli.commands[command].params}
        depth = params["--depth"]
        assert depth.help == _options.DEPTH.help and isinstance(depth.type, _click.IntRange)
        assert depth.type.min == _options.DEPTH.minimum == 1
    run_params = {p.opts[0]: p for p in cli.commands["run"].params}
    assert run_params["--max-passes"].help == _options.MAX_PASSES.help and run_params["--max-passes"].type.min == 1
    values = run_params["--values"]
    assert values.help == _options.VALUES.help and values.secondary_opts == ["--no-values"]
    assert magic["--depth"].help == _options.DEPTH.help
    assert magic["--max-passes"].help.startswith(_options.MAX_PASSES.help)
    assert magic["--no-values"].help == _options.VALUES.help


def test_the_readme_lists_the_options_run_has() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    table = readme.split("| `-o, --out DIR` |", 1)[1].split("\n\n", 1)[0]
    listed = {"--out"} | set(re.findall(r"^\| `(?:-\w, )?(--[\w-]+)", table, re.M))
    run_opts = {
        p.opts[0] if p.opts[0].startswith("--") else p.opts[-1]
        for p in cli.commands["run"].params
        if isinstance(p, click.Option)
    }
    assert listed == run_opts - {"--help"}
    assert "`graphtrace -V`" in readme or "`graphtrace --version`" in readme
    assert "recorded without values" not in readme  # what --max-passes does not do


def test_syntax_error_is_one_line_with_file_line_and_column(tmp_path: Path) -> None:
    result = invoke("run", "-o", str(tmp_path / "o"), write(tmp_path, "x = 1\nprint(x +)\n", "broken.py"))
    assert result.exit_code == 2
    one_error_line(result, f"{tmp_path / 'broken.py'}:2:10: SyntaxError: invalid syntax")
    assert not (tmp_path / "o").exists()


def test_missing_dot_still_writes_json_and_dot_and_says_how_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    out = tmp_path / "out"
    result = invoke("run", "-f", "json,dot,svg,html", "-o", str(out), write(tmp_path, CHAIN))
    assert result.exit_code == 0  # the script's own; the message explains what is missing
    assert sorted(p.name for p in out.iterdir()) == [
        ".graphtrace",
        "index.html",
        "pass-001.dot",
        "pass-001.json",
        "run.json",
    ]
    assert "graphtrace: warning: no pictures drawn (JSON and DOT files still written)" in result.stderr
    assert "apt-get install graphviz" in result.stderr and "brew install graphviz" in result.stderr
    assert "No pictures" in (out / "index.html").read_text()


def test_without_dot_the_summary_counts_what_was_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    out = tmp_path / "out"
    result = invoke("run", "-f", "svg,html", "-o", str(out), write(tmp_path, CHAIN))
    assert sorted(p.name for p in out.iterdir()) == [".graphtrace", "index.html", "run.json"]
    assert "graphtrace: 1 backward pass, 0 written to " in result.stderr
    assert "graphtrace: warning: no pictures drawn (only index.html written)" in result.stderr
    assert "JSON" not in result.stderr and "DOT" not in result.stderr
    assert "1 backward pass ran, 0 written" in (out / "index.html").read_text()


def test_control_characters_from_a_trace_are_printed_escaped(tmp_path: Path) -> None:
    forged = "evil\x1b[2J\rgraphtrace: all good\n\u202e.py"
    text = (
        "import torch\nx = torch.tensor(1.0, requires_grad=True)\n"
        f"exec(compile('(x * 2).backward()', {forged!r}, 'exec'))\n"
    )
    result = invoke("run", "-f", "json", "-o", str(tmp_path / "o"), write(tmp_path, text))
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.stderr and "\r" not in result.stderr and "\u202e" not in result.stderr
    assert len(result.stderr.splitlines()) == 4  # headline, table head, one pass, open
    assert "evil\\x1b[2J\\rgraphtrace: all good\\n\\u202e.py:1" in result.stderr
    result = invoke("render", "-f", "dot", str(tmp_path / "o" / "pass-001.json"), "-o", str(tmp_path / "r"))
    assert result.exit_code == 0 and "\x1b" not in result.stderr and len(result.stderr.splitlines()) == 4
    bad = tmp_path / "evil\x1b[31m.json"
    bad.write_text("[]")
    result = invoke("render", str(bad))
    one_error_line(result, "evil\\x1b[31m.json")


# -- render ----------------------------------------------------------------------------------


@pytest.mark.dot
def test_render_draws_saved_passes_again(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert invoke("run", "-q", "-f", "json", "-o", str(out), write(tmp_path, TWO_THEN.format(tail=""))).exit_code == 0
    again = tmp_path / "again"
    result = invoke("render", str(out / "pass-002.json"), "-o", str(again), "-f", "svg,png")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in again.iterdir()) == [
        ".graphtrace",
        "index.html",
        "pass-002.png",
        "pass-002.svg",
        "run.json",
    ]
    assert (again / "pass-002.png").read_bytes().startswith(b"\x89PNG")
    # a whole trace file; default folder: next to it
    trace = graphtrace.Trace([p for f in sorted(out.glob("pass-*.json")) for p in graphtrace.load(f)])
    trace.save(tmp_path / "t" / "trace.json")
    assert invoke("render", "-q", str(tmp_path / "t" / "trace.json")).exit_code == 0
    assert sorted(p.name for p in (tmp_path / "t").iterdir()) == [
        ".graphtrace",
        "index.html",
        "pass-001.html",
        "pass-001.svg",
        "pass-002.html",
        "pass-002.svg",
        "run.json",
        "trace.json",
    ]


def test_render_into_a_run_folder_keeps_the_whole_index(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert invoke("run", "-q", "-f", "json", "-o", str(out), write(tmp_path, LOOP.format(k=3)), "40").exit_code == 0
    before = (out / "index.html").read_text()
    assert "41 backward passes ran, 22 written" in before and "Gradient flow" in before
    result = invoke("render", "-q", str(out / "pass-001.json"), "-f", "dot")  # the README's example, without dot
    assert result.exit_code == 0, result.output
    index = (out / "index.html").read_text()
    assert "41 backward passes ran, 22 written" in index and "Gradient flow" in index
    assert index.count('<tr id="pass-') == 22 and "<td>21&ndash;41</td>" in index
    assert '<a href="pass-001.dot">dot</a> <a href="pass-001.json">json</a>' in index
    assert index.replace('<a href="pass-001.dot">dot</a> ', "") == before
    assert json.loads((out / "run.json").read_text())["passes"][0]["files"] == {
        "dot": "pass-001.dot",
        "json": "pass-001.json",
    }


def test_render_json_never_replaces_its_own_input(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert invoke("run", "-q", "-f", "json", "-o", str(out), write(tmp_path, CHAIN)).exit_code == 0
    before = (out / "pass-001.json").read_bytes()
    result = invoke("render", str(out / "pass-001.json"), "-f", "json")
    assert result.exit_code == 2
    one_error_line(result, f"-f json would replace the input {out / 'pass-001.json'}")
    assert (out / "pass-001.json").read_bytes() == before
    assert invoke("render", "-q", str(out / "pass-001.json"), "-f", "json", "-o", str(tmp_path / "copy")).exit_code == 0
    assert (tmp_path / "copy" / "pass-001.json").read_bytes() == before


def test_render_next_to_its_input_in_a_folder_of_other_files_asks_for_force(tmp_path: Path) -> None:
    _ = invoke("run", "-q", "-f", "json", "-o", str(tmp_path / "o"), write(tmp_path, CHAIN))
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "p.json").write_bytes((tmp_path / "o" / "pass-001.json").read_bytes())
    (mine / "index.html").write_text("my page")
    result = invoke("render", "-f", "dot", str(mine / "p.json"))
    assert result.exit_code == 2 and (mine / "index.html").read_text() == "my page"
    one_error_line(result, "is not empty and was not made by graphtrace (index.html)")
    assert invoke("render", "-q", "--force", "-f", "dot", str(mine / "p.json")).exit_code == 0
    assert sorted(p.name for p in mine.iterdir()) == [".graphtrace", "index.html", "p.json", "pass-001.dot", "run.json"]


def test_a_damaged_run_json_is_one_line(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert invoke("run", "-q", "-f", "json", "-o", str(out), write(tmp_path, CHAIN)).exit_code == 0
    (out / "run.json").write_text('{"format": "graphtrace-run", "version": 1, "passes": 5}')
    result = invoke("render", str(out / "pass-001.json"), "-f", "dot")
    assert result.exit_code == 2 and not (out / "pass-001.dot").exists()
    one_error_line(result, f"{out / 'run.json'} is damaged")


def test_render_rejects_bad_trace_files_in_one_line(tmp_path: Path) -> None:
    good = tmp_path / "o"
    assert invoke("run", "-q", "-f", "json", "-o", str(good), write(tmp_path, CHAIN)).exit_code == 0
    text = (good / "pass-001.json").read_text()
    bad = {
        "truncated.json": text[: len(text) // 2],
        "notjson.json": "<html>not json</html>",
        "deep.json": "[" * 100_000 + "]" * 100_000,
        "hostile.json": json.dumps(
            {
                "format": "graphtrace-pass",
                "version": 1,
                "graph": {},
                "nodes": [{"id": {"__class__": "os.system"}}],
                "edges": [],
            }
        ),
        "other.json": json.dumps({"format": "something-else"}),
        "empty.json": json.dumps({"format": "graphtrace-trace", "version": 1, "passes": []}),
        "nan.json": text.replace('"values":21.38', '"values":NaN', 1),
    }
    for name, content in bad.items():
        (tmp_path / name).write_text(content)
        result = invoke("render", "-f", "dot", str(tmp_path / name), "-o", str(tmp_path / "r"))
        assert result.exit_code == 2, (name, result.output)
        one_error_line(result, name)
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").iterdir())


def test_render_without_dot_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    good = tmp_path / "o"
    assert invoke("run", "-q", "-f", "json", "-o", str(good), write(tmp_path, CHAIN)).exit_code == 0
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    result = invoke("render", str(good / "pass-001.json"), "-f", "svg,dot", "-o", str(tmp_path / "r"))
    assert result.exit_code == 2
    assert "graphtrace: error: no pictures drawn" in result.stderr and "install" in result.stderr
    assert (tmp_path / "r" / "pass-001.dot").exists()


# -- the progress bar ---------------------------------------------------------------------------


class _Stream:
    def __init__(self, tty: bool) -> None:
        self.tty, self.text = tty, ""

    def isatty(self) -> bool:
        return self.tty

    def write(self, s: str) -> None:
        self.text += s

    def flush(self) -> None:
        pass


def test_progress_bar_only_on_a_terminal_and_only_when_slow() -> None:
    for tty in (True, False):
        stream = _Stream(tty)
        bar = _cli_writer.Progress(stream, total=40, delay=0)
        for done in (10, 40):
            bar.update(done)
        bar.close()
        if tty:
            assert "rendering [#######.......................] 10/40" in stream.text
            assert "40/40" in stream.text and stream.text.endswith("\r")
        else:
            assert stream.text == ""
    quick = _Stream(True)
    bar = _cli_writer.Progress(quick, total=3, delay=60)  # finishes before the delay: nothing shown
    bar.update(3)
    bar.close()
    assert quick.text == ""


def test_the_summary_stays_short_for_alternating_passes(tmp_path: Path) -> None:
    text = (
        "import torch\nw = torch.ones(2, requires_grad=True)\nfor i in range(15):\n"
        "    (w * 2).sum().backward()\n    (w ** 2).sum().backward()\n"
    )
    result = invoke("run", "-f", "json", "-o", str(tmp_path / "o"), write(tmp_path, text))
    assert result.exit_code == 0
    lines = result.stderr.splitlines()
    assert len(lines) <= 20 and "... and 18 more runs of passes (see index.html)" in result.stderr
    written = sorted(int(p.stem[5:]) for p in (tmp_path / "o").glob("pass-*.json"))
    # after 20: two groups, 21..29 and 22..30, each with its 1st, 2nd and 4th pass recorded in full
    assert written == [*range(1, 23), 27, 28]
    assert "passes 21-29 (5 of one structure): written 21 and 27; 2 only counted" in result.stderr
    assert "passes 22-30 (5 of one structure): written 22 and 28; 2 only counted" in result.stderr


TRAINING = """
import torch
layer = torch.nn.Linear(4, 1, bias=False)
for step in range(1, 31):
    layer(torch.full((1, 4), float(step))).sum().backward()  # weight.grad gets step, step, step, step
    layer.weight.grad = None
"""


def test_index_draws_the_rms_gradient_of_each_parameter_over_the_passes(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert invoke("run", "-q", "-f", "json", "-o", str(out), write(tmp_path, TRAINING)).exit_code == 0
    series = json.loads((out / "run.json").read_text())["grad_series"]  # NOTE [gradient heat map]
    assert series["passes"] == list(range(1, 31))
    assert series["rows"] == [["weight", [float(k) for k in range(1, 31)], 4]]  # rms of [k, k, k, k] is k
    index = (out / "index.html").read_text()
    assert "rms gradient per parameter over the recorded passes" in index and "weight: rms from 1 to 30" in index
    result = invoke("render", "-q", str(out / "pass-001.json"), "-f", "dot")  # run.json read back ...
    assert result.exit_code == 0, result.output
    assert "weight: rms from 1 to 30 over 30 passes" in (out / "index.html").read_text()  # ... the map stays


FUNC = """
import torch
from torch.func import grad, vjp
x = torch.tensor([0.5, 1.0])
print(grad(lambda t: torch.sin(t).sum())(x).tolist())
_, pullback = vjp(torch.sin, x)
w = torch.tensor([1.0, 2.0], requires_grad=True)
(w * 3).sum().backward()
print(w.grad.tolist())
"""


def test_passes_inside_torch_func_transforms_are_named_in_the_summary(tmp_path: Path) -> None:
    result = invoke("run", "-f", "json", "-o", str(tmp_path / "out"), write(tmp_path, FUNC))
    assert result.exit_code == 0
    assert result.stdout.splitlines()[1] == "[3.0, 3.0]"
    assert "  1 pass inside torch.func transforms was not drawn" in result.stderr.splitlines()
    assert (tmp_path / "out" / "pass-001.json").exists()
