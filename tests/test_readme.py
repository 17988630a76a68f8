"""README.md's examples run here: every fenced Python block, every shell command, every shown
output and every inline ``fastnn ...`` command.

Why a collector of our own: the README's blocks are not doctests (no ``>>>``; their output is
shown as trailing comments, after a ``$`` prompt, or in the ``text`` block that follows a
command), its shell blocks need a folder and prerequisite files, and some commands must be cut
down for the fast suite; sybil or pytest-examples would need the same glue and one more
dependency. The blocks are read from README.md when the tests are collected, so an edit of the
README is what runs (a test id is the block's first line number).

The rules, per kind of block:

- ``python``: run statement by statement in one namespace. A trailing comment that starts with
  shapes (``# (21, 2), (21, 1)``) is compared with the shapes of what the statement assigns; the
  output of ``print(...)  # shown`` is compared with the comment (``...`` matches any text).
  The kernel-contract block (calls on ``be.`` with arrays it does not define) gets arrays of the
  documented shapes per statement, and runs again on the reference backend: both must agree.
  A block that needs scikit-learn's grid search (about a minute on 2 cores) is ``slow``.
- ``bash``: each command (``&&``, lines and ``\\`` continuations split as the shell does) runs
  in a temporary folder. ``python3 -m venv`` and ``pip install`` are not run here: ``.ci/run``
  runs the quick start's installs in fresh venvs. ``fastnn ...``: ``[optional]`` groups are
  included; in the fast suite ``--epochs N`` above 2,000 runs 200 epochs (``slow`` runs it as
  written, and only then are shown losses compared); files a command reads (``new.csv``,
  ``runs/blobs/model.npz``) are made first. ``pytest ...`` is checked, not run (this is the
  suite, which CI runs whole): its paths exist, its ``-m`` markers are registered.
  ``dask scheduler/worker ... &`` start for the block's sweep (``slow``, needs the
  ``distributed`` extra) on a free port, and are stopped by their id.
  Each command has a check of its result in ``CHECKS`` (a command without one fails), and a
  ``text`` block right after a ``bash`` block is its shown output, compared line by line.
- ``text`` with ``$ command`` lines: each command runs and its output must be the lines under it.
- inline ``fastnn ...`` code in the prose: parsed by the real argument parser (a flag the CLI
  lost fails); spans with placeholders (``[...]``, ``…``, ``|``) are synopses and are skipped.
"""

from __future__ import annotations

import ast
import contextlib
import io
import re
import shlex
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from fastnn.app.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
FAST_EPOCHS, EPOCHS_CUT = 200, 2000


@dataclass
class Block:
    line: int       # the line of the opening fence, 1-based
    lang: str
    code: str
    end: int        # the line of the closing fence
    output: Block | None = None  # a text block right after a bash block: its shown output


def readme_blocks(text: str) -> list[Block]:
    """Every fenced block, indented ones (inside a list item) included, their indent removed."""
    blocks, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        if lines[i].lstrip().startswith("```"):
            indent = len(lines[i]) - len(lines[i].lstrip())
            j = next(k for k in range(i + 1, len(lines)) if lines[k].lstrip().startswith("```"))
            body = [ln[indent:] if ln[:indent].isspace() else ln.lstrip() for ln in lines[i + 1:j]]
            blocks.append(Block(i + 1, lines[i].strip()[3:].strip(), "\n".join(body) + "\n",
                                j + 1))
            i = j + 1
            if len(blocks) > 1 and blocks[-2].lang == "bash" and blocks[-1].lang == "text" \
                    and all(not ln.strip() for ln in lines[blocks[-2].end:blocks[-1].line - 1]):
                blocks[-2].output = blocks[-1]
        else:
            i += 1
    return blocks


BLOCKS = readme_blocks(README)


def _ids(kind):
    return [b for b in BLOCKS if b.lang == kind]


# -- python blocks ----------------------------------------------------------------------------

SHAPES = re.compile(r"#\s*((?:\(\d+(?:,\s*\d+)*,?\)(?:,\s*)?)+)")


def _statements(code: str):
    """(source, trailing comment of its last line) per top-level statement."""
    lines = code.splitlines()
    for node in ast.parse(code).body:
        last = lines[node.end_lineno - 1]
        comment = last[last.index("#"):] if "#" in last else ""
        yield node, ast.get_source_segment(code, node), comment


def _kernel_inputs(stmt: str, rng) -> dict:
    """Arrays of the shapes the kernel-contract block documents, for one of its statements."""
    r = lambda *shape: rng.standard_normal(shape)  # noqa: E731
    if "conv2d" in stmt:  # x (N, C, H, W), W (F, C, KH, KW); stride 1, padding 0
        return {"x": r(2, 3, 6, 6), "W": r(4, 3, 3, 3), "b": r(4), "dout": r(2, 4, 4, 4)}
    if "max_pool" in stmt:
        return {"x": r(2, 3, 6, 6), "dout": r(2, 3, 3, 3), "size": 2, "stride": 2}
    return {"x": r(5, 3), "W": r(3, 4), "b": r(4), "dout": r(5, 4), "z": r(5, 4), "dy": r(5, 4)}


def _wild(shown: str) -> re.Pattern:
    return re.compile(".*".join(re.escape(p) for p in re.split(r"\.\.\.|…", shown)))


def run_python(code: str, kernel: bool) -> list:
    """Run a block; returns what each statement assigned, in order."""
    ns: dict = {}
    rng = np.random.default_rng(0)
    assigned = []
    for node, src, comment in _statements(code):
        if kernel:
            ns.update(_kernel_inputs(src, rng))
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(src, "README.md", "exec"), ns)  # noqa: S102 - the README's own code
        if isinstance(node, ast.Expr) and src.startswith("print(") and comment:
            shown = comment.lstrip("#").strip()
            assert _wild(shown).fullmatch(out.getvalue().strip()), (src, out.getvalue(), shown)
        if isinstance(node, ast.Assign):
            target = node.targets[0]
            names = [t.id for t in getattr(target, "elts", [target])]
            values = [ns[n] for n in names]
            assigned.append(values)
            m = SHAPES.match(comment)
            if m:
                shapes = [tuple(int(d) for d in s.split(",") if d.strip())
                          for s in re.findall(r"\(([^)]*)\)", m.group(1))]
                assert [np.shape(v) for v in values] == shapes, (src, comment)
    return assigned


@pytest.mark.parametrize("block", [
    pytest.param(b, id=f"L{b.line}", marks=[pytest.mark.slow] if "GridSearchCV" in b.code else [])
    for b in _ids("python")])
def test_python_block(block, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    if "sklearn" in block.code:
        pytest.importorskip("sklearn")
    kernel = "be." in block.code and "be = fastnn.get_backend(" in block.code
    code = ("import fastnn\n" if "import fastnn" not in block.code else "") + block.code
    got = run_python(code, kernel)
    assert got, "the block assigns nothing to check"
    if kernel:  # the same statements on the reference backend: the backends agree
        ref = run_python(re.sub(r'get_backend\("\w+"\)', 'get_backend("reference")', code), True)
        for mine, theirs in zip(got[1:], ref[1:], strict=True):
            for a, b in zip(mine, theirs, strict=True):
                np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("block", [pytest.param(b, id=f"L{b.line}") for b in _ids("toml")])
def test_grid_file_block(block, tmp_path):
    """A grid file the README shows is read by ``--grid`` and expands into its runs."""
    from fastnn.app import sweep

    path = tmp_path / "sweep.toml"
    path.write_text(block.code)
    grid = sweep.read_grid(path)
    runs = 1
    for values in grid.values():
        runs *= len(values)
    specs = sweep.expand(grid, tmp_path / "out")
    assert len(specs) == runs > 1


def test_every_block_has_a_test():
    """No fenced block is left out unread: each language has its test above (text blocks are
    outputs or file contents, compared or written by the tests of the blocks they belong to)."""
    assert {b.lang for b in BLOCKS} <= {"bash", "python", "toml", "text", ""}


# -- shell blocks -----------------------------------------------------------------------------

def commands(code: str) -> list[tuple[list[str], bool]]:
    """(argv, in the background) per command of a bash block."""
    out = []
    for line in code.replace("\\\n", " ").splitlines():
        tokens = shlex.split(line, comments=True)
        argv: list[str] = []
        for t in [*tokens, "&&"]:
            if t in ("&&", "&"):
                if argv:
                    out.append((argv, t == "&"))
                argv = []
            else:
                argv.append(t)
    return out


def fastnn_argv(argv: list[str], slow: bool) -> list[str]:
    args = [a.strip("[]") for a in argv[1:]]
    if not slow and args[0] == "train" and "--epochs" not in args:
        args += ["--epochs", str(FAST_EPOCHS)]  # its default is 20,000
    if not slow and "--epochs" in args:
        i = args.index("--epochs") + 1
        if int(args[i]) > EPOCHS_CUT:
            args[i] = str(FAST_EPOCHS)
    return args


def _blobs_csv(path: Path) -> None:
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 20)
    X = rng.standard_normal((40, 2)) + 3 * y[:, None]
    path.write_text("".join(f"{a:.6f},{b:.6f},{c}\n" for (a, b), c in zip(X, y, strict=True)))


def prepare(argv: list[str], cwd: Path) -> None:
    """Make the files a README command reads (the blobs model of "Your own data")."""
    if "new.csv" in argv:
        _blobs_csv(cwd / "new.csv")
    if "runs/blobs/model.npz" in argv:
        _blobs_csv(cwd / "blobs.csv")
        fastnn(["train", "--data", "blobs.csv", "--epochs", "300", "--quiet", "--out",
                "runs/blobs"], cwd).check_returncode()


def fastnn(args: list[str], cwd: Path, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fastnn.app.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=600, **kw)


def _check_train(p, cwd, slow):
    text = (cwd / "runs/xor/output.txt").read_text()
    if slow:  # the lab network on XOR, 20,000 epochs: every point right
        assert "accuracy=100.00%" in text
    else:
        assert re.search(r"accuracy=\d+\.\d\d%", text), text


def _check_predict(p, cwd, slow):
    assert (cwd / "preds.csv").read_text().splitlines()[0] == "row,prediction,p0"
    assert re.search(r"accuracy", p.stdout + p.stderr)


def _check_sweep(p, cwd, slow):
    assert len((cwd / "runs/sweep/sweep.csv").read_text().splitlines()) == 13  # header + 12


#: A check of each README command's result, by its first two words (``fastnn train``).
CHECKS = {"fastnn train": _check_train, "fastnn predict": _check_predict,
          "fastnn sweep": _check_sweep}


def compare_shown(shown: str, got: str, slow: bool) -> None:
    """The shown output of a command: first and last lines exact; each ``[i/n] run: ...``
    line shown must be one of the output's (in any order: runs finish in any order), its time
    and worker always masked, its hash, loss and accuracy masked unless ``slow``."""
    shown_lines, got_lines = shown.strip().splitlines(), got.strip().splitlines()
    assert got_lines[0] == shown_lines[0] and got_lines[-1] == shown_lines[-1], got
    for line in shown_lines[1:-1]:
        m = re.fullmatch(r"\[\d+/(\d+)\] (.*)-([0-9a-f]{8}): loss=(\S+) accuracy=(\S+) .*", line)
        if line == "...":
            continue
        assert m, f"no rule for the shown line {line!r}"
        n, name, digest, loss, acc = m.groups()
        exact = (lambda s: re.escape(s)) if slow else (lambda s: r"\S+")
        pattern = (rf"\[\d+/{n}\] {re.escape(name)}-{exact(digest)}: loss={exact(loss)} "
                   rf"accuracy={exact(acc)} \([\d.]+ s, [\w.:-]+\)")
        assert any(re.fullmatch(pattern, g) for g in got_lines), (line, got)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_bash(block: Block, cwd: Path, slow: bool) -> None:
    background: list[subprocess.Popen] = []
    port = None
    try:
        for argv, bg in commands(block.code):
            tool = Path(argv[0]).name
            if argv[:3] == ["python3", "-m", "venv"] or (tool == "pip" and argv[1] == "install"):
                continue  # the installs: .ci/run runs the quick start in fresh venvs
            if tool == "dask":
                port = port or _free_port()
                args = [a.replace("8786", str(port)) for a in argv[1:]]
                background.append(subprocess.Popen([sys.executable, "-m", "dask", *args],
                                                   cwd=cwd, stdout=subprocess.DEVNULL,
                                                   stderr=subprocess.DEVNULL))
                time.sleep(3 if args[0] == "scheduler" else 5)
                continue
            assert not bg, f"no rule for a background {tool!r}"
            if tool == "pytest":
                check_pytest_args(argv[1:])
                continue
            assert tool == "fastnn", f"no rule for the README command {argv}"
            args = fastnn_argv(argv, slow)
            if port:
                args = [a.replace("8786", str(port)) for a in args]
            prepare(args, cwd)
            p = fastnn(args, cwd)
            assert p.returncode == 0, p.stderr
            assert "Traceback" not in p.stderr
            CHECKS[" ".join(argv[:2]).rsplit("/", 1)[-1]](p, cwd, slow)
            if block.output is not None:
                compare_shown(block.output.code, p.stderr + p.stdout, slow)
    finally:
        for proc in background:
            proc.kill()
            proc.wait()


def check_pytest_args(args: list[str]) -> None:
    """A README ``pytest`` command, checked rather than run (this is the suite; CI runs it
    whole): its paths exist, its markers are registered, its plugin is installed."""
    import tomllib

    ini = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    markers = {m.split(":")[0].strip() for m in ini.get("markers", [])}
    for i, a in enumerate(args):
        if a == "-m":
            assert set(re.findall(r"\w+", args[i + 1])) - {"and", "or", "not"} <= markers
        elif a.startswith("--benchmark"):
            pytest.importorskip("pytest_benchmark")
        elif not a.startswith("-") and (i == 0 or args[i - 1] != "-m"):
            assert (ROOT / a).exists(), a


def _slow_block(b: Block) -> bool:
    """Blocks run only in the slow suite: a Dask cluster, a sweep (12 runs of figures and
    files: ~20 s even at 200 epochs)."""
    return "dask " in b.code or "fastnn sweep" in b.code


@pytest.mark.parametrize("block", [
    pytest.param(b, id=f"L{b.line}", marks=[pytest.mark.slow] if _slow_block(b) else [])
    for b in _ids("bash")])
def test_bash_block(block, tmp_path):
    if _slow_block(block) and "dask " not in block.code:
        pytest.skip("run as written by test_bash_block_as_written (slow either way)")
    if "dask " in block.code:
        pytest.importorskip("distributed")
    run_bash(block, tmp_path, slow=False)


@pytest.mark.slow
@pytest.mark.parametrize("block", [b for b in _ids("bash") if "dask " not in b.code
                                   and "fastnn " in b.code and "pip install" not in b.code],
                         ids=lambda b: f"L{b.line}")
def test_bash_block_as_written(block, tmp_path):
    """Every fastnn command at its full length (epochs as written): shown numbers compared.
    The quick start's is not repeated here: .ci/run runs it as written after its install and
    checks its 100 % accuracy."""
    run_bash(block, tmp_path, slow=True)


# -- text blocks with $ prompts ---------------------------------------------------------------

def prompt_blocks() -> list[tuple[Block, str, list[str]]]:
    out = []
    for b in _ids("text"):
        lines = b.code.splitlines()
        for i, line in enumerate(lines):
            if line.startswith("$ "):
                shown = []
                for after in lines[i + 1:]:
                    if after.startswith("$ "):
                        break
                    shown.append(after)
                out.append((b, line[2:], shown))
    return out


@pytest.mark.parametrize("block,command,shown", prompt_blocks(),
                         ids=[f"L{b.line}-{c}" for b, c, _ in prompt_blocks()])
def test_prompt_output(block, command, shown, tmp_path, request):
    from test_docs_errors import DIFFERS, PREFIX

    differs = [DIFFERS[s[len(PREFIX):]] for s in shown if s[len(PREFIX):] in DIFFERS]
    if differs:  # the same quotes as test_docs_errors.py's strict xfails
        request.applymarker(pytest.mark.xfail(strict=True, reason=differs[0]))
    argv = shlex.split(command)
    assert argv[0] == "fastnn", f"no rule for {command!r}"
    p = fastnn(argv[1:], tmp_path)
    got = (p.stdout + p.stderr).splitlines()
    assert got == shown
    assert p.returncode == (2 if shown and shown[0].startswith("fastnn: error:") else 0)


# -- outputs the prose attributes to a command ------------------------------------------------

#: A text block's first line -> the command the prose before it says prints it.
PRINTED_BY = {"Iter 0 | ground truth = 0 | prediction =": ["train", "--lab"]}


def test_shown_output_of_prose_commands(tmp_path):
    found = 0
    for b in _ids("text"):
        for start, args in PRINTED_BY.items():
            if b.code.startswith(start):
                found += 1
                p = fastnn([*args, "--out", "run"], tmp_path)
                got = p.stdout.splitlines()
                shown = b.code.strip().splitlines()
                assert p.returncode == 0, p.stderr
                assert shown[0] in got and shown[-1] in got, (shown, got[:3], got[-3:])
    assert found == len(PRINTED_BY), "a shown output left the README"


# -- inline commands --------------------------------------------------------------------------

def inline_commands(text: str) -> list[str]:
    prose = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    spans = [" ".join(s.split()) for s in re.findall(r"`(fastnn [a-z][^`]*)`", prose)]
    return [s for s in dict.fromkeys(spans) if not re.search(r"[\[\]…|<>]|\.\.\.", s)]


@pytest.mark.parametrize("command", inline_commands(README))
def test_inline_command_parses(command):
    """The command exists and knows every flag; a whole command parses (a span that only names
    a command or a flag, as in "`fastnn sweep --scheduler`", may lack its values)."""
    argv = shlex.split(command)[1:]
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices.get(argv[0])
    assert sub is not None, f"no command {argv[0]!r}"
    flags = [a.split("=")[0] for a in argv if a.startswith("--")]
    assert [f for f in flags if f not in sub._option_string_actions] == []
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help
        assert e.code == 0
        return
    except Exception as e:  # noqa: BLE001 - the CLI's own UsageError
        assert re.search(r"expected one argument|are required", str(e)), str(e)
        return
    assert args.command == argv[0]
