"""Bad inputs across the API and the CLI: one clear error, nothing captured lost.

Each test is a row of docs/bad-inputs.md (the row number is in the test's name).
"""

from __future__ import annotations

import gc
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import graphtrace
from graphtrace import GraphtraceError, TraceFormatError

from .programs import bit_equal

GRAPHTRACE = Path(sys.executable).parent / "graphtrace"


@pytest.fixture
def traced():
    """A trace with one good pass already in it; the test checks that it survives."""
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    with graphtrace.trace() as t:
        (x * x).sum().backward()
        first = t.passes[0].to_json()
        yield t, x
        (x * 3).sum().backward()  # recording goes on after the bad input
    assert t.passes[0].to_json() == first
    assert t.passes[-1].graph.graph["index"] == len(t.passes) and t.passes[-1].error == ""


def _good_pass() -> graphtrace.Pass:
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    with graphtrace.trace() as t:
        (x.sin() * x).sum().backward()
    return t.passes[0]


# -- API: snapshot() -------------------------------------------------------------------------
def test_01_snapshot_of_a_non_tensor(traced) -> None:
    with pytest.raises(GraphtraceError, match="takes a tensor or a non-empty list of tensors, not float"):
        graphtrace.snapshot(3.0)


def test_02_snapshot_of_a_tensor_without_a_graph(traced) -> None:
    with pytest.raises(GraphtraceError, match="has no autograd graph"):
        graphtrace.snapshot(torch.ones(3))


def test_03_snapshot_of_a_mixed_list(traced) -> None:
    _t, x = traced
    with pytest.raises(GraphtraceError, match=r"takes tensors, but got a str \(item 1\)"):
        graphtrace.snapshot([x * 2, "loss"])


def test_04_snapshot_of_an_empty_list(traced) -> None:
    with pytest.raises(GraphtraceError, match="non-empty list"):
        graphtrace.snapshot([])


def test_05_snapshot_of_an_integer_tensor(traced) -> None:
    with pytest.raises(GraphtraceError, match="has no autograd graph"):
        graphtrace.snapshot(torch.arange(5))


# -- API: trace() options and odd tensors ----------------------------------------------------------
@pytest.mark.parametrize("limit", [-1, 2.5, "64", True])
def test_06_bad_value_limit(limit: object) -> None:
    with pytest.raises(GraphtraceError, match="value_limit must be a non-negative int"):
        graphtrace.trace(value_limit=limit)


def test_07_unknown_trace_option() -> None:
    with pytest.raises(TypeError, match="unexpected keyword argument 'value_limt'"):
        graphtrace.trace(value_limt=3)


def _status_mb(key: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    raise KeyError(key)


def _peak_extra_mb(fn) -> float:
    """Peak RSS reached while ``fn`` runs, above the RSS before it (Linux: resets VmHWM)."""
    gc.collect()
    Path("/proc/self/clear_refs").write_text("5")
    base = _status_mb("VmRSS")
    fn()
    return _status_mb("VmHWM") - base


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc")
def test_08_huge_tensor_is_summarised_not_copied() -> None:
    """A 1e8-element (400 MB) tensor: no copy made or kept, an accurate summary.

    Regression: the summary converted it to float64 whole (+760 MB peak, twice per pass)."""
    big = torch.ones(10**8, requires_grad=True)
    y = big * 2
    snaps: list = []
    snapshot_mb = _peak_extra_mb(lambda: snaps.append(graphtrace.snapshot(y)))  # noqa: F821 (runs before the del)
    leaf = next(a for _, a in snaps[0].graph.nodes(data=True) if a["kind"] == "leaf")
    assert leaf["value"]["values"] is None and leaf["value"]["numel"] == 10**8
    assert leaf["value"]["norm"] == pytest.approx(1e4, rel=1e-6)
    assert len(snaps[0].to_json()) < 10_000
    del y

    def plain() -> None:
        (big * 2).sum().backward()

    def traced_backward() -> None:
        with graphtrace.trace():
            (big * 2).sum().backward()

    plain_mb = _peak_extra_mb(plain)
    big.grad = None
    traced_mb = _peak_extra_mb(traced_backward)
    assert snapshot_mb < 50 and traced_mb - plain_mb < 50, (snapshot_mb, plain_mb, traced_mb)


def test_09_huge_gradient_of_a_sum_is_summarised_accurately() -> None:
    """Regression: float32 norms of big tensors drifted (42% for an expanded 1e8 ones)."""
    from graphtrace.capture.values import record

    rec = record(torch.ones(()).expand(10**8))  # what SumBackward0 passes on: no memory
    assert rec["norm"] == pytest.approx(1e4, rel=1e-6) and rec["mean"] == 1.0
    rec = record(torch.full((4096, 4096), 0.5).mT)
    assert rec["norm"] == pytest.approx(2048.0, rel=1e-6)


def test_10_complex_dtypes(traced) -> None:
    w, ref = (torch.tensor([1 + 1j, 2 - 1j], requires_grad=True) for _ in range(2))
    (ref.abs() ** 2).sum().backward()
    with graphtrace.trace() as t:
        (w.abs() ** 2).sum().backward()
    assert bit_equal(w.grad, ref.grad)
    leaf = next(a for _, a in t.passes[0].graph.nodes(data=True) if a["kind"] == "leaf")
    assert leaf["dtype"] == "complex64" and all(isinstance(v, str) for v in leaf["grad_after"]["values"])
    assert [complex(v) for v in leaf["grad_after"]["values"]] == ref.grad.tolist()
    assert t.passes[0].graph.graph["capture_error"] == ""
    graphtrace.loads(t.to_json())


def test_11_sparse_gradients(traced) -> None:
    """Regression: nn.Embedding(sparse=True) made the traced backward raise (Jacobian reshape)."""
    torch.manual_seed(0)
    emb, ref = torch.nn.Embedding(10, 3, sparse=True), torch.nn.Embedding(10, 3, sparse=True)
    ref.load_state_dict(emb.state_dict())
    idx = torch.tensor([1, 2, 1])
    ref(idx).sum().backward()
    with graphtrace.trace() as t:
        emb(idx).sum().backward()
    assert emb.weight.grad.layout == torch.sparse_coo and bit_equal(emb.weight.grad, ref.weight.grad)
    leaf = next(a for _, a in t.passes[0].graph.nodes(data=True) if a["kind"] == "leaf")
    assert leaf["param"] == "weight" and leaf["grad_after"]["layout"] == "sparse_coo"
    assert leaf["grad_after"]["max"] == 2.0 and leaf["grad_after"]["norm"] == pytest.approx(15**0.5)
    assert t.passes[0].graph.graph["capture_error"] == ""
    graphtrace.loads(t.to_json())


def test_12_integer_tensors_in_the_graph(traced) -> None:
    """Integer tensors cannot require grad; as indices they are fine; backward of one is torch's error."""
    t, x = traced
    y = x[torch.tensor([1, 1, 0])].sum()  # integer index tensor
    y.backward()
    with pytest.raises(RuntimeError, match="does not require grad"):
        (x > 0).sum().backward()
    assert t.passes[-1].error.startswith("RuntimeError: element 0 of tensors does not require grad")


def test_13_meta_device(traced) -> None:
    m = torch.randn(3, 4, device="meta", requires_grad=True)
    with graphtrace.trace() as t:
        (m.sin() * 2).sum().backward()
    g = t.passes[0].graph
    assert m.grad.device.type == "meta" and g.graph["error"] == "" and g.graph["capture_error"] == ""
    leaf = next(a for _, a in g.nodes(data=True) if a["kind"] == "leaf")
    assert leaf["device"] == "meta" and leaf["grad_after"]["norm"] is None and leaf["grad_after"]["shape"] == [3, 4]
    graphtrace.loads(t.to_json())


def test_14_float8_leaf(traced) -> None:
    """Regression: a float8 leaf made the traced backward raise (no float64 promotion)."""
    x = torch.ones(3, dtype=torch.float8_e4m3fn, requires_grad=True)
    with graphtrace.trace() as t:
        (x.to(torch.float32) * 2).sum().backward()
    assert x.grad.float().tolist() == [2.0, 2.0, 2.0] and len(t.passes) == 1


def test_15_efficient_zero_gradient(traced) -> None:
    """Regression: a ZeroTensor .grad (double backward through abs) could not be recorded."""
    x = torch.nn.Parameter(torch.tensor(0.5))
    with graphtrace.trace() as t:
        (g,) = torch.autograd.grad(x.abs(), [x], create_graph=True)
        (g * g).backward()
    assert x.grad._is_zerotensor()
    leaf = next(a for _, a in t.passes[1].graph.nodes(data=True) if a["kind"] == "leaf")
    assert leaf["grad_after"]["values"] == 0.0 and leaf["grad_after"]["norm"] == 0.0


# -- API: saving and loading ---------------------------------------------------------------------------
def test_16_save_into_an_unwritable_folder(tmp_path: Path) -> None:
    p = _good_pass()
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(GraphtraceError, match=r"cannot write .*a-file/out/p.json"):
        p.save(blocker / "out" / "p.json")
    assert p.save(tmp_path / "p.json").read_text() == p.to_json()  # nothing lost


def test_17_save_with_an_unknown_suffix(tmp_path: Path) -> None:
    with pytest.raises(GraphtraceError, match=r"cannot save a pass as 'p.xyz': use one of .svg"):
        _good_pass().save(tmp_path / "p.xyz")
    assert not (tmp_path / "p.xyz").exists()


def _load_error(tmp_path: Path, content: bytes | str, name: str = "t.json") -> str:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    before = path.read_bytes()
    with pytest.raises(TraceFormatError) as caught:
        graphtrace.load(path)
    assert path.read_bytes() == before  # the file is left alone
    msg = str(caught.value)
    assert "\n" not in msg and str(path) in msg
    return msg


def test_18_load_a_missing_file_or_a_folder(tmp_path: Path) -> None:
    with pytest.raises(TraceFormatError, match="no such file"):
        graphtrace.load(tmp_path / "nope.json")
    with pytest.raises(TraceFormatError, match="is a folder"):
        graphtrace.load(tmp_path)


def test_19_load_a_binary_file(tmp_path: Path) -> None:
    assert "not a JSON text file" in _load_error(tmp_path, bytes(range(256)) * 4)


def test_20_load_a_pickle(tmp_path: Path) -> None:
    data = pickle.dumps(json.loads(_good_pass().to_json()))  # a pickle of a real pass
    msg = _load_error(tmp_path, data, "t.pkl")
    assert "not a JSON text file" in msg or "not valid JSON" in msg


def test_21_load_malformed_json(tmp_path: Path) -> None:
    assert "is not valid JSON" in _load_error(tmp_path, '{"format": "graphtrace-pass", "version": 1,,}')


def test_22_load_a_truncated_trace(tmp_path: Path) -> None:
    text = _good_pass().to_json()
    for cut in (1, len(text) // 3, len(text) // 2, len(text) - 3):
        assert "is not valid JSON" in _load_error(tmp_path, text[:cut])


def test_23_load_deeply_nested_json(tmp_path: Path) -> None:
    assert "nested too deeply" in _load_error(tmp_path, "[" * 200_000 + "]" * 200_000)
    deep = (
        '{"format": "graphtrace-pass", "version": 1, "graph": {}, "edges": [], "nodes": '
        + "[" * 100_000
        + "]" * 100_000
        + "}"
    )
    assert "nested too deeply" in _load_error(tmp_path, deep)


def _mutated(mutate) -> str:
    data = json.loads(_good_pass().to_json())
    mutate(data)
    return json.dumps(data)


TYPE_CONFUSED = {
    "top level is a list": ("[1, 2]", "top level is not an object"),
    "other format": ('{"format": "other"}', "not a graphtrace trace"),
    "unsupported version": (_mutated(lambda d: d.update(version=99)), "unsupported pass format version 99"),
    "nodes is an object": (_mutated(lambda d: d.update(nodes={})), "nodes: {} is not of type 'array'"),
    "node id is a string": (
        _mutated(lambda d: d["nodes"][0].update(id="0")),
        "nodes[0].id: '0' is not of type 'integer'",
    ),
    "duplicate node id": (_mutated(lambda d: d["nodes"][1].update(id=0)), "appears twice"),
    "unknown node kind": (
        _mutated(lambda d: d["nodes"][0].update(kind="<script>")),
        "nodes[0].kind: '<script>' is not one of",
    ),
    "edge to a missing node": (_mutated(lambda d: d["edges"][0].update(target=999)), "names node 999"),
    "grad record is a string": (
        _mutated(lambda d: d["nodes"][1].update(grad_in=["x"])),
        "nodes[1].grad_in[0]: 'x' is not of type 'object', 'null'",
    ),
    "shape is not ints": (
        _mutated(lambda d: d["nodes"][0].update(shape=["a"])),
        "nodes[0].shape[0]: 'a' is not of type 'integer'",
    ),
    "NaN literal": (_mutated(lambda d: None).replace('"norm": ', '"norm": NaN, "n": ', 1), "NaN is not valid JSON"),
    "jacobian is a number": (
        _mutated(lambda d: d["edges"][1].update(jacobian=3)),
        "edges[1].jacobian: 3 is not of type 'array', 'null'",
    ),
    "passes is not a list": (
        '{"format": "graphtrace-trace", "version": 1, "passes": 5}',
        "passes: 5 is not of type 'array'",
    ),
}


@pytest.mark.parametrize("case", sorted(TYPE_CONFUSED))
def test_24_load_type_confused_json(tmp_path: Path, case: str) -> None:
    text, expected = TYPE_CONFUSED[case]
    assert expected in _load_error(tmp_path, text)


def test_25_load_an_oversized_file(tmp_path: Path) -> None:
    from graphtrace.model.trace import MAX_FILE_BYTES

    path = tmp_path / "huge.json"
    with open(path, "wb") as f:  # sparse: takes no disk space, is never read
        f.truncate(MAX_FILE_BYTES + 1)
    with pytest.raises(TraceFormatError, match="more than a trace file may be"):
        graphtrace.load(path)


def test_26_unknown_node_name() -> None:
    with pytest.raises(KeyError, match=r"no node named 'z' in this pass \(named nodes: x\)"):
        _good_pass().node("z")


def test_27_on_pass_callback_raising(traced) -> None:
    """The user's callback error reaches the user; the pass it was given is kept."""
    x = torch.tensor([1.0], requires_grad=True)
    err = LookupError("callback")

    def on_pass(p: graphtrace.Pass) -> None:
        raise err

    with graphtrace.trace(on_pass=on_pass) as t, pytest.raises(LookupError) as caught:
        (x * 2).sum().backward()
    assert caught.value is err and len(t.passes) == 1 and x.grad.tolist() == [2.0]


# -- CLI -------------------------------------------------------------------------------------------------
def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(GRAPHTRACE), *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def _one_line_error(res: subprocess.CompletedProcess, *needles: str) -> None:
    assert res.returncode != 0, res
    lines = res.stderr.strip().splitlines()
    assert "Traceback" not in res.stderr and len(lines) == 1, res.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.fixture
def cli_dir(tmp_path: Path) -> Path:
    assert GRAPHTRACE.exists(), f"no graphtrace console script at {GRAPHTRACE} (pip install -e . installs it)"
    (tmp_path / "ok.py").write_text("import torch\nx = torch.ones(3, requires_grad=True)\n(x * 2).sum().backward()\n")
    return tmp_path


def test_28_cli_run_a_script_with_a_syntax_error(cli_dir: Path) -> None:
    (cli_dir / "syn.py").write_text("def f(:\n    pass\n")
    _one_line_error(_cli("run", "syn.py", cwd=cli_dir), "SyntaxError", "syn.py:1")
    assert not (cli_dir / "outputs").exists()


def test_29_cli_run_a_missing_script(cli_dir: Path) -> None:
    _one_line_error(_cli("run", "missing.py", cwd=cli_dir), "missing.py")


def test_30_cli_run_into_an_unwritable_folder(cli_dir: Path) -> None:
    (cli_dir / "a-file").write_text("not a folder")
    _one_line_error(_cli("run", "-o", "a-file/out", "ok.py", cwd=cli_dir), "a-file/out")


@pytest.mark.parametrize("content", [bytes(range(256)), b'{"format": "graphtrace-pass", "vers', b"[]"])
def test_31_cli_render_a_bad_trace_file(cli_dir: Path, content: bytes) -> None:
    (cli_dir / "bad.json").write_bytes(content)
    _one_line_error(_cli("render", "bad.json", cwd=cli_dir), "bad.json")


def test_32_cli_render_into_an_unwritable_folder(cli_dir: Path) -> None:
    _good_pass().save(cli_dir / "p.json")
    (cli_dir / "a-file").write_text("not a folder")
    _one_line_error(_cli("render", "-o", "a-file/out", "p.json", cwd=cli_dir), "a-file/out")
    assert json.loads((cli_dir / "p.json").read_text())["format"] == "graphtrace-pass"  # input intact


def test_33_cli_keeps_passes_written_before_the_script_fails(cli_dir: Path) -> None:
    (cli_dir / "fails.py").write_text(
        "import torch\nx = torch.ones(3, requires_grad=True)\n(x * 2).sum().backward()\n"
        "raise SystemExit('stopped by the script')\n"
    )
    res = _cli("run", "-o", "out", "fails.py", cwd=cli_dir)
    assert res.returncode != 0 and "Traceback" not in res.stderr
    assert json.loads((cli_dir / "out" / "pass-001.json").read_text())["format"] == "graphtrace-pass"


# -- files that are not what they seem ---------------------------------------------------------------
def test_34_load_a_device_or_a_pipe(tmp_path: Path) -> None:
    with pytest.raises(TraceFormatError, match="/dev/zero is not a regular file"):
        graphtrace.load("/dev/zero")  # used to read until memory ran out
    res = subprocess.run([str(GRAPHTRACE), "render", "/dev/zero"], capture_output=True, text=True, timeout=120)
    _one_line_error(res, "/dev/zero is not a regular file")
    assert res.returncode == 2


def test_35_a_symlink_planted_in_the_output_folder(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    out = tmp_path / "out"
    out.mkdir()
    (out / "p.json.part").symlink_to(victim)
    (out / "p.json").symlink_to(victim)
    _good_pass().save(out / "p.json")
    assert victim.read_text() == "precious" and not (out / "p.json").is_symlink()


# -- output folders, signals, options, names ----------------------------------------------------------
def test_36_cli_run_into_a_folder_of_the_users_files(cli_dir: Path) -> None:
    (cli_dir / "mine").mkdir()
    (cli_dir / "mine" / "index.html").write_text("my page")
    res = _cli("run", "-o", "mine", "ok.py", cwd=cli_dir)
    _one_line_error(res, "mine is not empty and was not made by graphtrace (index.html)", "--force")
    assert res.returncode == 2 and (cli_dir / "mine" / "index.html").read_text() == "my page"


def test_37_cli_two_runs_into_one_folder(cli_dir: Path) -> None:
    from graphtrace.cli.folder import open_folder

    held = open_folder(cli_dir / "out")
    try:
        res = _cli("run", "-o", "out", "ok.py", cwd=cli_dir)
    finally:
        held.close()
    _one_line_error(res, "another graphtrace command is writing to out")
    assert res.returncode == 2 and sorted(p.name for p in (cli_dir / "out").iterdir()) == [".graphtrace"]


def test_38_cli_a_full_disk(cli_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from graphtrace import _files
    from graphtrace.cli.command import cli

    def full(f: object, raw: bytes) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(_files, "_write_all", full)
    res = CliRunner().invoke(cli, ["run", "-f", "json", "-o", str(cli_dir / "out"), str(cli_dir / "ok.py")])
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert [p.name for p in (cli_dir / "out").iterdir()] == [".graphtrace"]  # no temporary file left
    assert res.stderr.splitlines()[-1] == (
        f"graphtrace: error: No space left on device: wrote 0 of 3 files to "
        f"{cli_dir / 'out'}/; not written: index.html, pass-001.json, run.json"
    )


def test_39_cli_render_json_onto_its_own_input(cli_dir: Path) -> None:
    assert _cli("run", "-f", "json", "-o", "out", "ok.py", cwd=cli_dir).returncode == 0
    before = (cli_dir / "out" / "pass-001.json").read_bytes()
    res = _cli("render", "-f", "json", "out/pass-001.json", cwd=cli_dir)
    _one_line_error(res, "-f json would replace the input out/pass-001.json")
    assert (cli_dir / "out" / "pass-001.json").read_bytes() == before


def test_40_cli_an_option_out_of_range(cli_dir: Path) -> None:
    (cli_dir / "loud.py").write_text("print('the script ran')\n")
    res = _cli("run", "--depth", "0", "loud.py", cwd=cli_dir)
    _one_line_error(res, "Invalid value for '--depth'")
    assert res.returncode == 2 and res.stdout == "" and not (cli_dir / "outputs").exists()


@pytest.mark.parametrize("field", ["numel", "roots", "values", "1e400"])
def test_41_load_a_file_that_passed_the_old_checks(tmp_path: Path, field: str) -> None:
    data = json.loads(_good_pass().to_json())
    leaf = next(n for n in data["nodes"] if n["kind"] == "leaf")
    if field == "numel":
        leaf["grad_in"][0]["numel"] = "many"
    elif field == "roots":
        data["graph"]["roots"] = 5
    elif field == "values":
        leaf["grad_in"][0]["values"] = [[1.0], [2.0]]
    text = json.dumps(data)
    if field == "1e400":
        text = text.replace('"norm": ', '"norm": 1e400, "x": ', 1)
    assert (field if field != "1e400" else "too large") in _load_error(tmp_path, text)


def test_42_cli_a_script_name_and_argument_that_are_not_utf8(cli_dir: Path) -> None:
    name = os.fsdecode(b"ok\xff.py")
    (cli_dir / name).write_text((cli_dir / "ok.py").read_text() + "import sys\nprint(ascii(sys.argv))\n")
    res = _cli("run", "-f", "json", name, os.fsdecode(b"\xfe"), cwd=cli_dir)
    assert res.returncode == 0 and "Traceback" not in res.stderr
    assert res.stdout == "['ok\\udcff.py', '\\udcfe']\n" and "ok\\xff.py:3" in res.stderr


def test_43_cli_control_characters_in_a_trace_file(cli_dir: Path) -> None:
    data = json.loads(_good_pass().to_json())
    data["graph"]["call_site"] = "x.py:1\r\x1b[2Kgraphtrace: all good\n"
    (cli_dir / "p.json").write_text(json.dumps(data))
    res = _cli("render", "-f", "dot", "-o", "r", "p.json", cwd=cli_dir)
    assert res.returncode == 0 and "\x1b" not in res.stderr and "\r" not in res.stderr
    assert "x.py:1\\r\\x1b[2Kgraphtrace: all good\\n" in res.stderr and len(res.stderr.splitlines()) == 4
