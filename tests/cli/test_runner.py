"""graphtrace.cli.runner: a script runs as ``python SCRIPT ARGS`` would; exit codes; the user's traceback."""

from __future__ import annotations

import io
import json
import os
import sys
from pathlib import Path

import pytest

from graphtrace import GraphtraceError
from graphtrace.cli.runner import SIGINT_EXIT, Script, run, user_traceback


def script(tmp_path: Path, text: str, name: str = "prog.py") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_script_sees_what_python_gives_it(tmp_path: Path) -> None:
    report = tmp_path / "seen.json"
    path = script(
        tmp_path,
        f"""
import json, sys
def f(x: int) -> int:  # no `from __future__ import annotations` leaks in: real types
    return x
json.dump({{"name": __name__, "argv": sys.argv, "path0": sys.path[0], "file": __file__,
           "main": sys.modules["__main__"].__dict__ is globals(),
           "annotation": f.__annotations__["x"] is int,
           "builtins": __builtins__ is __import__("builtins")}}, open({str(report)!r}, "w"))
""",
    )
    argv, path0, main = sys.argv, sys.path[0], sys.modules["__main__"]
    assert run(Script(str(path), ("--lr", "0.1"))) == 0
    seen = json.loads(report.read_text())
    assert seen == {
        "name": "__main__",
        "argv": [str(path), "--lr", "0.1"],
        "path0": str(tmp_path),
        "file": str(path),
        "main": True,
        "annotation": True,
        "builtins": True,  # the module, as in python's __main__ (a dict only in imported modules)
    }
    assert (sys.argv, sys.path[0], sys.modules["__main__"]) == (argv, path0, main)  # all restored


@pytest.mark.parametrize(
    "code, expected",
    [
        ("sys.exit(3)", 3),
        ("sys.exit()", 0),
        ("sys.exit(None)", 0),
        ("sys.exit(True)", 1),
        ("sys.exit(256 + 4)", 4),
        ("pass", 0),
    ],
)
def test_exit_code_is_the_scripts_own(tmp_path: Path, code: str, expected: int) -> None:
    assert run(Script(str(script(tmp_path, f"import sys\n{code}\n")))) == expected


def test_exit_with_a_message_prints_it_and_gives_1(tmp_path: Path) -> None:
    err = io.StringIO()
    assert run(Script(str(script(tmp_path, "import sys\nsys.exit('no data found')\n"))), stderr=err) == 1
    assert err.getvalue() == "no data found\n"


def test_uncaught_exception_gives_1_and_the_users_traceback_only(tmp_path: Path, our_frames) -> None:
    script(tmp_path, "def helper():\n    raise KeyError('weights')\n", name="helpers.py")
    path = script(tmp_path, "from helpers import helper\n\ndef main():\n    helper()\n\nmain()\n")
    err = io.StringIO()
    assert run(Script(str(path)), stderr=err) == 1
    text = err.getvalue()
    assert text.startswith("Traceback (most recent call last):\n")
    assert f'File "{path}", line 6, in <module>' in text
    assert f'File "{path}", line 4, in main' in text
    assert 'helpers.py", line 2, in helper' in text  # the script's own folder is importable
    assert text.rstrip().endswith("KeyError: 'weights'")
    assert our_frames(text) == [] and "runpy" not in text and "exec(" not in text


def test_chained_exceptions_are_filtered_too(tmp_path: Path, our_frames) -> None:
    path = script(tmp_path, "try:\n    1 / 0\nexcept ZeroDivisionError as e:\n    raise ValueError('bad') from e\n")
    err = io.StringIO()
    assert run(Script(str(path)), stderr=err) == 1
    text = err.getvalue()
    assert "ZeroDivisionError: division by zero" in text and "ValueError: bad" in text
    assert "direct cause" in text and our_frames(text) == []


def test_keyboard_interrupt_gives_130(tmp_path: Path) -> None:
    err = io.StringIO()
    assert run(Script(str(script(tmp_path, "raise KeyboardInterrupt\n"))), stderr=err) == SIGINT_EXIT == 130
    assert err.getvalue().rstrip().endswith("KeyboardInterrupt")


def test_wrap_is_entered_around_the_script_and_left_on_error(tmp_path: Path) -> None:
    events = []

    class Wrap:
        def __enter__(self) -> None:
            events.append("enter")

        def __exit__(self, *exc: object) -> None:
            events.append(("exit", exc[0].__name__ if exc[0] else None))

    path = script(tmp_path, "print('in script')\nraise SystemExit(5)\n")
    assert run(Script(str(path)), Wrap) == 5
    assert events == ["enter", ("exit", "SystemExit")]


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("missing.py", None, "missing.py: no such file"),
        ("folder", "dir", "is a folder"),
        ("data.py", b"\x89PNG\r\n\x1a\n\x00\x00binary", "is not a Python script (it is a binary file)"),
    ],
)
def test_bad_scripts_are_one_clear_error(tmp_path: Path, name: str, content: object, message: str) -> None:
    path = tmp_path / name
    if content == "dir":
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    with pytest.raises(GraphtraceError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Script(str(path))


def test_syntax_error_is_one_line_before_anything_runs(tmp_path: Path) -> None:
    path = script(tmp_path, "print('ran')\ndef (:\n")
    with pytest.raises(GraphtraceError) as info:
        Script(str(path))
    assert str(info.value) == f"{path}:2:5: SyntaxError: invalid syntax"
    (tmp_path / "latin.py").write_bytes(b"# -*- coding: utf-8 -*-\nname = '\xe9'\n")
    with pytest.raises(GraphtraceError, match=r"latin.py:2.*SyntaxError: .*utf-8"):
        Script(str(tmp_path / "latin.py"))


def test_user_traceback_of_an_exception_without_frames() -> None:
    assert user_traceback(ValueError("x")) == "ValueError: x\n"


def test_an_error_inside_graphtrace_keeps_its_frames_and_says_so(tmp_path: Path) -> None:
    path = script(tmp_path, "from graphtrace.cli import runner\nrunner._exit_code(object(), 42)\n")
    err = io.StringIO()
    assert run(Script(str(path)), stderr=err) == 1
    text = err.getvalue()
    assert "graphtrace/cli/runner.py" in text and text.endswith(
        "graphtrace: internal error (a bug in graphtrace, not in the script)\n"
    )


USER_ERRORS = {
    "matmul shapes": "x = torch.ones(2, 3, requires_grad=True)\n(x * 2).sum().backward()\n"
    "def project(a, b):\n    return a @ b\nproject(torch.ones(2, 3), torch.ones(4, 5))\n",
    "functional": "import torch.nn.functional as F\nF.cross_entropy(torch.randn(3, 4), torch.tensor([0, 9, 1]))\n",
    "module": "lin = torch.nn.Linear(3, 2)\nlin(torch.ones(4, 5))\n",
    "nested modules": "class Net(torch.nn.Module):\n    def __init__(self):\n        super().__init__()\n"
    "        self.body = torch.nn.Sequential(torch.nn.Linear(3, 2))\n    def forward(self, x):\n"
    "        return self.body(x)\nnet = Net()\nnet(torch.ones(1, 3)).sum().backward()\nnet(torch.ones(4, 5))\n",
    "hooked module": "lin = torch.nn.Linear(3, 2)\nlin.register_forward_hook(lambda m, i, o: None)\n"
    "lin(torch.ones(4, 5))\n",
    "hook": "x = torch.tensor([1.0], requires_grad=True)\ndef hook(g):\n    raise KeyError('my hook')\n"
    "x.register_hook(hook)\n(x * 3).sum().backward()\n",
    "chained": "try:\n    torch.ones(2) + torch.ones(3)\nexcept RuntimeError as e:\n"
    "    raise ValueError('bad batch') from e\n",
}


@pytest.mark.parametrize("case", USER_ERRORS)
def test_the_users_error_under_trace_is_pythons_traceback(tmp_path: Path, case: str, our_frames) -> None:
    import subprocess

    import graphtrace

    path = script(tmp_path, "import torch\n" + USER_ERRORS[case])
    plain = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=120)
    err = io.StringIO()
    tracer = graphtrace.trace()  # module provenance on: a module call's frames as python's too
    assert run(Script(str(path)), lambda: tracer, stderr=err) == plain.returncode == 1
    assert err.getvalue() == plain.stderr
    assert our_frames(err.getvalue()) == []


@pytest.mark.parametrize(
    "code", ["2**70", "-2**70", "2**63", "2**63 - 1", "-2**63", "-2**63 - 1", "2**32 + 3", "-1", "256", "True"]
)
def test_sys_exit_with_any_int_gives_what_python_gives(tmp_path: Path, code: str) -> None:
    import subprocess

    path = script(tmp_path, f"import sys\nsys.exit({code})\n")
    plain = subprocess.run([sys.executable, str(path)], capture_output=True, timeout=60)
    assert run(Script(str(path))) == plain.returncode


def test_the_scripts_excepthook_is_called_with_its_frames(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = script(
        tmp_path,
        """
import sys, traceback
def hook(kind, value, tb):
    print("hook:", kind.__name__, value, [f.name for f in traceback.extract_tb(tb)])
sys.excepthook = hook
def step():
    raise ValueError("bad batch")
step()
""",
    )
    before = sys.excepthook
    err = io.StringIO()
    assert run(Script(str(path)), stderr=err) == 1
    assert capsys.readouterr().out == "hook: ValueError bad batch ['<module>', 'step']\n"
    assert err.getvalue() == "" and sys.excepthook is before


def test_a_linked_script_imports_beside_its_target_and_keeps_pythons_file_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real, links = tmp_path / "real", tmp_path / "links"
    real.mkdir()
    links.mkdir()
    (real / "helper_beside.py").write_text("VALUE = 42\n")
    report = tmp_path / "seen.json"
    (real / "train.py").write_text(
        "import json, sys\nfrom helper_beside import VALUE\n"
        f"json.dump([VALUE, __file__, sys.path[0]], open({str(report)!r}, 'w'))\n"
    )
    (links / "train.py").symlink_to(real / "train.py")
    monkeypatch.chdir(links)
    sys.modules.pop("helper_beside", None)
    try:  # as `python ./train.py`: sys.path[0] is the target's folder, __file__ the path as given
        assert run(Script("./train.py")) == 0
    finally:
        sys.modules.pop("helper_beside", None)
    assert json.loads(report.read_text()) == [42, f"{links}/./train.py", os.path.realpath(real)]
