"""``clauseguard serve``: loopback by default, uvicorn's own proxy handling off, admin token made once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from clauseguard.guards.serve_cli import serve
from tests.server.conftest import GUARDS

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "chat-assistant" / "profile.yaml"


@pytest.fixture
def ran(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    import uvicorn

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append({"app": app, **kw}))
    return calls


@pytest.mark.parametrize(("args", "host", "port"), [
    ([], "127.0.0.1", 8000),
    (["--host", "0.0.0.0", "--port", "9001"], "0.0.0.0", 9001),
])
def test_serve_options(tmp_path: Path, ran: list[dict[str, Any]], args: list[str], host: str, port: int) -> None:
    result = CliRunner().invoke(serve, ["--guards", str(GUARDS), "--db", f"sqlite:///{tmp_path / 'r.db'}", *args])
    assert result.exit_code == 0, result.output
    (call,) = ran
    assert (call["host"], call["port"], call["proxy_headers"], call["root_path"]) == (host, port, False, "")
    assert call["app"].state.clauseguard.pipeline.guards


def test_uvicorn_writes_no_access_log_with_client_addresses(tmp_path: Path, ran: list[dict[str, Any]]) -> None:
    """uvicorn's access log printed every client's raw address ("203.0.113.7:52136 - POST /v1/check/text"),
    although the service pseudonymises addresses before anything else sees them."""
    result = CliRunner().invoke(serve, ["--guards", str(GUARDS), "--db", f"sqlite:///{tmp_path / 'r.db'}"])
    assert result.exit_code == 0, result.output
    assert ran[0]["access_log"] is False


@pytest.mark.parametrize(("given", "root_path"), [("/guard", "/guard"), ("/a/guard/", "/a/guard"), ("", "")])
def test_root_path_behind_a_prefix_stripping_proxy(tmp_path: Path, ran: list[dict[str, Any]], given: str,
                                                   root_path: str) -> None:
    result = CliRunner().invoke(serve, ["--guards", str(GUARDS), "--db", f"sqlite:///{tmp_path / 'r.db'}",
                                        "--root-path", given])
    assert result.exit_code == 0, result.output
    assert ran[0]["root_path"] == root_path


@pytest.mark.parametrize("given", ["guard", "/gu ard", "/guard?x=1"])
def test_a_root_path_that_is_no_path_is_a_user_error(tmp_path: Path, ran: list[dict[str, Any]], given: str) -> None:
    from clauseguard.errors import UserError

    result = CliRunner().invoke(serve, ["--guards", str(GUARDS), "--db", f"sqlite:///{tmp_path / 'r.db'}",
                                        "--root-path", given])
    assert isinstance(result.exception, UserError) and result.exception.where == "--root-path" and not ran


def test_bad_trusted_proxy_is_a_user_error(tmp_path: Path, ran: list[dict[str, Any]]) -> None:
    from clauseguard.errors import UserError

    result = CliRunner().invoke(serve, ["--guards", str(GUARDS), "--db", f"sqlite:///{tmp_path / 'r.db'}",
                                        "--trusted-proxy", "not-a-network"])
    assert isinstance(result.exception, UserError) and not ran


def test_a_short_admin_token_names_its_variable_and_never_shows_it(tmp_path: Path, ran: list[dict[str, Any]],
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from clauseguard.errors import UserError

    monkeypatch.setenv("CLAUSEGUARD_ADMIN_TOKEN", "short-secret")
    result = CliRunner().invoke(serve, ["--guards", str(GUARDS), "--db", f"sqlite:///{tmp_path / 'r.db'}"])
    error = result.exception
    assert isinstance(error, UserError) and not ran
    assert error.where == "CLAUSEGUARD_ADMIN_TOKEN" and "16 characters" in error.message
    assert "short-secret" not in str(error) and "--trusted-proxy" not in str(error)


def test_a_missing_pseudonym_key_is_a_warning_the_operator_sees(tmp_path: Path, ran: list[dict[str, Any]],
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The app logs it on clauseguard's logger, which has only a NullHandler: serve shows it on stderr."""
    monkeypatch.delenv("CLAUSEGUARD_PSEUDONYM_KEYS", raising=False)
    result = CliRunner().invoke(serve, ["--guards", str(GUARDS), "--db", f"sqlite:///{tmp_path / 'r.db'}"])
    assert result.exit_code == 0 and ran
    assert "WARNING:  clauseguard.guards.server: CLAUSEGUARD_PSEUDONYM_KEYS is not set" in result.stderr


def test_create_admin_token_prints_it_once(tmp_path: Path, ran: list[dict[str, Any]]) -> None:
    from clauseguard.guards.records.store import RecordStore
    from clauseguard.guards.server.tokens import Role, TokenStore

    url = f"sqlite:///{tmp_path / 'r.db'}"
    result = CliRunner().invoke(serve, ["--guards", str(GUARDS), "--db", url, "--create-admin-token"])
    assert result.exit_code == 0 and not ran
    token = result.stdout.strip().splitlines()[-1]
    with RecordStore.open(url) as store:
        principal = TokenStore(store.engine).verify(token)
    assert principal is not None and principal.role is Role.ADMIN


def test_a_short_session_secret_stops_serve_before_it_listens(tmp_path: Path, ran: list[dict[str, Any]],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The server used to start and then answer every page with a 422 about the secret."""
    from clauseguard.errors import UserError

    monkeypatch.setenv("CLAUSEGUARD_SESSION_SECRET", "a-short-session-secret")
    result = CliRunner().invoke(serve, ["--guards", str(GUARDS), "--db", f"sqlite:///{tmp_path / 'r.db'}"])
    error = result.exception
    assert isinstance(error, UserError) and not ran
    assert error.where == "CLAUSEGUARD_SESSION_SECRET" and "32 characters" in error.message
    assert "a-short-session-secret" not in str(error)


def test_guards_lock_and_report_from_different_profiles_are_refused(tmp_path: Path, ran: list[dict[str, Any]]) -> None:
    """Records stamped with one profile's documents while another profile's guards run would cite clauses
    the running guards do not enforce; the files' profile_sha256 were never compared."""
    from clauseguard.cli import main
    from clauseguard.errors import GuardConfigError

    for name in ("a", "b"):
        assert main(["generate", str(EXAMPLE), "-o", str(tmp_path / name)]) == 0
    profile_b = (tmp_path / "b" / "guards.yaml").read_text(encoding="utf-8")
    (tmp_path / "b" / "guards.yaml").write_text(profile_b.replace("profile_sha256: ", "profile_sha256: f"),
                                                encoding="utf-8")  # as if generated from another profile
    db = ["--db", f"sqlite:///{tmp_path / 'r.db'}"]
    same = CliRunner().invoke(serve, ["--guards", str(tmp_path / "a" / "guards.yaml"), *db,
                                      "--lock", str(tmp_path / "a" / "clauseguard.lock"),
                                      "--report", str(tmp_path / "a" / "report.json")])
    assert same.exit_code == 0, same.output
    mixed = CliRunner().invoke(serve, ["--guards", str(tmp_path / "b" / "guards.yaml"), *db,
                                       "--lock", str(tmp_path / "a" / "clauseguard.lock")])
    assert isinstance(mixed.exception, GuardConfigError) and len(ran) == 1
    assert "generated from different profiles" in str(mixed.exception)


@pytest.mark.parametrize("extra", [[], ["--create-admin-token"]])
@pytest.mark.parametrize("db", ["postgresql+psycopg://user:p@ss@db.invalid/cg", "sqlite:///{tmp}/no/such/dir/r.db"])
def test_a_record_store_that_cannot_be_opened_is_the_users_db(tmp_path: Path, ran: list[dict[str, Any]],
                                                              extra: list[str], db: str) -> None:
    """serve exited 1 with the records error where audit and records exit 2 naming --db."""
    from clauseguard.errors import UserError

    result = CliRunner().invoke(serve, ["--guards", str(GUARDS), "--db", db.format(tmp=tmp_path), *extra])
    error = result.exception
    assert isinstance(error, UserError) and not ran, result.output
    assert error.message.startswith("--db ") and "ss@db.invalid" not in error.message


def test_a_throttle_setting_is_named_by_its_variable(tmp_path: Path, ran: list[dict[str, Any]],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from clauseguard.errors import UserError

    monkeypatch.setenv("CLAUSEGUARD_INTAKE_BURST", "0")
    result = CliRunner().invoke(serve, ["--guards", str(GUARDS), "--db", f"sqlite:///{tmp_path / 'r.db'}"])
    assert isinstance(result.exception, UserError) and not ran
    assert result.exception.where == "CLAUSEGUARD_INTAKE_BURST"
