"""Bearer tokens: roles, hashing at rest, revocation, the bootstrap admin token."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from clauseguard.guards.server.tokens import Role, TokenStore, api_tokens
from tests.server.conftest import ADMIN_TOKEN


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


def count_scrypt_hashes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every scrypt hash computed from now on (install it after creating the tokens a test needs)."""
    from clauseguard.guards.server import tokens

    hashed: list[str] = []
    digest = tokens._digest

    def counting(secret: str, salt: bytes) -> bytes:
        hashed.append(secret)
        return digest(secret, salt)

    monkeypatch.setattr(tokens, "_digest", counting)
    return hashed


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_made_up_tokens_are_throttled_per_client(make_app: Callable[..., FastAPI],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Every request with any bearer token ran an scrypt check (~0.1 s of a shared worker thread), with no
    limit: 200 made-up tokens sent at once stalled every other route for seconds. A made-up token's id is
    no stored token's, so it is now refused with no scrypt check at all; a client gets a few tries, then
    429s with Retry-After; another client is not held back."""
    app = make_app()
    hashed = count_scrypt_hashes(monkeypatch)
    with TestClient(app, client=("198.51.100.9", 5000)) as flood, \
            TestClient(app, client=("203.0.113.7", 5000)) as other:
        answers = [flood.get("/v1/moderation/queue", headers=bearer(f"cg_x{i}_guess")) for i in range(200)]
        assert other.get("/v1/moderation/queue", headers=bearer("cg_y_guess")).status_code == 401
    assert [a.status_code for a in answers] == [401] * 5 + [429] * 195
    assert int(answers[-1].headers["retry-after"]) > 0
    assert hashed == []


def test_moderators_behind_one_office_address_are_not_throttled(client: TestClient, admin_headers: dict[str, str],
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Each valid token's first scrypt check cost its address's login bucket, so the sixth and seventh
    moderator behind one office (NAT) address got a 429 with a valid token. A check of a real token id is
    now charged to that id, not to the address."""
    tokens = [make_token(client, admin_headers, "moderator") for _ in range(7)]
    hashed = count_scrypt_hashes(monkeypatch)
    assert [client.get("/v1/moderation/queue", headers=bearer(t)).status_code for t in tokens] == [200] * 7
    assert len(hashed) == 7


def test_wrong_secrets_cost_their_token_id_not_colleagues(make_app: Callable[..., FastAPI],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Five wrong tokens from an office address (a typo, or anyone on its wifi) locked every colleague
    there out with 429s. Wrong secrets for a real id now use up that id's bucket, from any address: its
    sixth gets a 429 with no scrypt check, while a colleague's token from the same address still works."""
    app = make_app()
    with TestClient(app, client=("192.0.2.50", 1)) as setup:
        admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        mine, colleague = (make_token(setup, admin, "moderator") for _ in range(2))
    hashed = count_scrypt_hashes(monkeypatch)
    with TestClient(app, client=("198.51.100.21", 4000)) as office, \
            TestClient(app, client=("203.0.113.8", 4000)) as elsewhere:
        wrong = [office.get("/v1/moderation/queue", headers=bearer(f"{mine}x{i}")).status_code for i in range(5)]
        assert wrong == [401] * 5 and len(hashed) == 5
        assert office.get("/v1/moderation/queue", headers=bearer(colleague)).status_code == 200
        sixth = elsewhere.get("/v1/moderation/queue", headers=bearer(f"{mine}x6"))
        assert sixth.status_code == 429 and int(sixth.headers["retry-after"]) > 0
        assert len(hashed) == 6  # the colleague's check only


def test_a_valid_token_is_not_throttled_by_workers_sharing_buckets(make_app: Callable[..., FastAPI],
                                                                   tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Each worker caches its own checks, so with buckets shared between workers (rate_limit_db) one
    moderator's valid token cost the shared login bucket once per worker, and on eight workers every
    minute's checks ended in 429s. A valid check now fills its id's bucket again and costs no address."""
    monkeypatch.setenv("CLAUSEGUARD_PSEUDONYM_KEYS", "k1:" + base64.b64encode(b"k" * 32).decode())
    workers = [make_app(rate_limit_db=str(tmp_path / "buckets.sqlite3")) for _ in range(8)]
    with TestClient(workers[0], client=("192.0.2.50", 1)) as setup:
        token = make_token(setup, {"Authorization": f"Bearer {ADMIN_TOKEN}"}, "moderator")
    codes = []
    for _minute in range(2):  # each worker's cache forgets the token after a minute
        for app in workers:
            app.state.clauseguard.token_cache.ttl = 0
            with TestClient(app, client=("198.51.100.30", 4000)) as worker:
                codes.append(worker.get("/v1/moderation/queue", headers=bearer(token)).status_code)
    assert codes == [200] * 16


def test_the_same_wrong_token_again_costs_no_scrypt_check(client: TestClient, admin_headers: dict[str, str],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A wrong token sent again was checked again, at the same cost: now it fails at once for a minute."""
    wrong = make_token(client, admin_headers, "moderator") + "x"
    hashed = count_scrypt_hashes(monkeypatch)
    answers = {client.get("/v1/moderation/queue", headers=bearer(wrong)).status_code for _ in range(20)}
    assert answers == {401} and len(hashed) == 1


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


def test_requests_with_one_token_at_once_share_one_check(client: TestClient, admin_headers: dict[str, str],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """A page that sends several requests at once with a token its worker has not checked yet ran one
    scrypt check each, and past five of them got 429s with a valid token: now they wait for one check."""
    from concurrent.futures import ThreadPoolExecutor

    token = make_token(client, admin_headers, "moderator")
    hashed = count_scrypt_hashes(monkeypatch)
    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(lambda _: client.get("/v1/moderation/queue", headers=bearer(token)).status_code,
                              range(8)))
    assert codes == [200] * 8 and len(hashed) == 1
