"""Bearer tokens: roles, hashing at rest, revocation, the bootstrap admin token."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from clauseguard.guards.server.tokens import Role, TokenStore, api_tokens


def make_token(client: TestClient, admin_headers: dict[str, str], role: str) -> str:
    response = client.post("/v1/admin/tokens", headers=admin_headers, json={"role": role, "label": f"a {role}"})
    assert response.status_code == 201
    return response.json()["token"]


@pytest.mark.parametrize(("role", "queue", "admin"), [
    ("moderator", 200, 403),
    ("admin", 200, 200),
])
def test_roles(client: TestClient, admin_headers: dict[str, str], role: str, queue: int, admin: int) -> None:
    headers = {"Authorization": f"Bearer {make_token(client, admin_headers, role)}"}
    assert client.get("/v1/moderation/queue", headers=headers).status_code == queue
    assert client.get("/v1/admin/tokens", headers=headers).status_code == admin


def test_revoked_token_is_refused(client: TestClient, admin_headers: dict[str, str]) -> None:
    token = make_token(client, admin_headers, "moderator")
    token_id = token.split("_")[1]
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/v1/moderation/queue", headers=headers).status_code == 200
    assert client.delete(f"/v1/admin/tokens/{token_id}", headers=admin_headers).status_code == 204
    assert client.get("/v1/moderation/queue", headers=headers).status_code == 401
    assert client.delete(f"/v1/admin/tokens/{token_id}", headers=admin_headers).status_code == 404
    listed = {t["id"]: t for t in client.get("/v1/admin/tokens", headers=admin_headers).json()}
    assert listed[token_id]["revoked_at"] is not None and "token" not in listed[token_id]


def test_tokens_are_stored_hashed(client: TestClient, admin_headers: dict[str, str]) -> None:
    token = make_token(client, admin_headers, "admin")
    secret = token.split("_", 2)[2]
    state = client.app.state.clauseguard  # type: ignore[attr-defined]
    with state.engine.connect() as conn:
        rows = conn.execute(select(api_tokens)).all()
    dumped = repr([tuple(r) for r in rows])
    assert secret not in dumped and secret.encode() not in b"".join(r.digest for r in rows)
    assert all(len(r.digest) == 32 and len(r.salt) == 16 for r in rows)


@pytest.mark.parametrize("token", ["", "cg__", "cg_abc_", "xx_abc_def", "cg_" + "a" * 300, "Bearer"])
def test_malformed_tokens_verify_to_none(client: TestClient, token: str) -> None:
    assert client.app.state.clauseguard.tokens.verify(token) is None  # type: ignore[attr-defined]


def test_tampered_secret_is_refused(client: TestClient, admin_headers: dict[str, str]) -> None:
    token = make_token(client, admin_headers, "admin")
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")
    assert client.get("/v1/admin/tokens", headers={"Authorization": f"Bearer {tampered}"}).status_code == 401


def test_without_bootstrap_token_admin_routes_are_closed(make_app: Callable[..., FastAPI]) -> None:
    with TestClient(make_app(admin_token=None)) as client:
        response = client.get("/v1/admin/tokens", headers={"Authorization": "Bearer anything-at-all-123"})
        assert response.status_code == 401


def test_store_round_trip(client: TestClient) -> None:
    store: TokenStore = client.app.state.clauseguard.tokens  # type: ignore[attr-defined]
    token, info = store.create(Role.MODERATOR, "direct")
    principal = store.verify(token)
    assert principal is not None and (principal.id, principal.role) == (info.id, Role.MODERATOR)
    assert store.revoke(info.id) and store.verify(token) is None


def test_unreachable_token_store_is_a_503_not_a_500(client: TestClient, admin_headers: dict[str, str]) -> None:
    """The database behind the tokens goes away: the API and the pages say "try again" (503), as every
    records route does, instead of an internal error."""
    import re

    from sqlalchemy import create_engine

    token = make_token(client, admin_headers, "moderator")
    page = client.get("/moderation/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf
    signed_in = client.post("/moderation/login", data={"token": token, "csrf_token": csrf.group(1)},
                            follow_redirects=False)
    assert signed_in.status_code == 303
    client.app.state.clauseguard.tokens.engine = create_engine("sqlite:////nonexistent-dir/x.db")  # type: ignore[attr-defined]
    for response in (client.get("/v1/moderation/queue", headers={"Authorization": f"Bearer {token}"}),
                     client.get("/v1/admin/tokens", headers=admin_headers),
                     client.post("/v1/admin/tokens", headers=admin_headers, json={"role": "moderator"}),
                     client.get("/moderation", follow_redirects=False)):
        assert response.status_code == 503, response.text
        assert response.headers["retry-after"] and "nonexistent" not in response.text


# ---- made-up tokens cost their sender, not the service ---------------------------------------------------


def count_scrypt_checks(app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    checked: list[str] = []
    tokens = app.state.clauseguard.tokens
    verify = tokens.verify

    def counting(token: str) -> object:
        checked.append(token)
        return verify(token)

    monkeypatch.setattr(tokens, "verify", counting)
    return checked


def test_made_up_tokens_are_throttled_per_client(make_app: Callable[..., FastAPI],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Every request with any bearer token ran an scrypt check (~0.1 s of a shared worker thread), with no
    limit: 200 made-up tokens sent at once stalled every other route for seconds. A client now gets a
    few checks, then 429s with Retry-After; another client is not held back."""
    app = make_app()
    checked = count_scrypt_checks(app, monkeypatch)
    with TestClient(app, client=("198.51.100.9", 5000)) as flood, \
            TestClient(app, client=("203.0.113.7", 5000)) as other:
        answers = [flood.get("/v1/moderation/queue", headers={"Authorization": f"Bearer cg_x{i}_guess"})
                   for i in range(8)]
        assert other.get("/v1/moderation/queue", headers={"Authorization": "Bearer cg_y_guess"}).status_code == 401
    assert [a.status_code for a in answers] == [401] * 5 + [429] * 3
    assert int(answers[-1].headers["retry-after"]) > 0
    assert len(checked) == 6  # five of the flood, one of the other client


def test_the_same_wrong_token_again_costs_no_scrypt_check(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """A wrong token sent again was checked again, at the same cost: now it fails at once for a minute."""
    checked = count_scrypt_checks(client.app, monkeypatch)  # type: ignore[arg-type]
    answers = {client.get("/v1/moderation/queue", headers={"Authorization": "Bearer cg_x_guess"}).status_code
               for _ in range(20)}
    assert answers == {401} and len(checked) == 1


def test_a_valid_token_is_checked_once_and_never_throttled(client: TestClient, admin_headers: dict[str, str],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """The throttle must not slow a moderator: their token is checked by scrypt once a minute, and every
    request of theirs is answered; revoking it still takes effect at once."""
    token = make_token(client, admin_headers, "moderator")
    checked = count_scrypt_checks(client.app, monkeypatch)  # type: ignore[arg-type]
    headers = {"Authorization": f"Bearer {token}"}
    assert {client.get("/v1/moderation/queue", headers=headers).status_code for _ in range(20)} == {200}
    assert len(checked) == 1
    assert client.delete(f"/v1/admin/tokens/{token.split('_')[1]}", headers=admin_headers).status_code == 204
    assert client.get("/v1/moderation/queue", headers=headers).status_code == 401
