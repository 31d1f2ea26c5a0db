"""The package root: the error tree, the CLI entry point, and what importing loads."""

from __future__ import annotations

import subprocess
import sys

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
        " and m not in ('clauseguard.cli', 'clauseguard.errors')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "MODS []"
