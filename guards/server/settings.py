"""Settings of the HTTP service: limits, trusted proxies, tokens. Data with a schema, checked once.

Defaults are the safe choice: listen on loopback, trust no proxy (``X-Forwarded-For`` is ignored
unless the peer is a configured proxy), 1 MB JSON bodies, 20 MB image uploads, and the public routes
throttled per client address (:mod:`.throttle`).
"""

from __future__ import annotations

import ipaddress
import os

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from clauseguard.guards._forwarded import Network

__all__ = ["ADMIN_TOKEN_ENV", "AUDIT_WAIT_ENV", "GUARDRAIL_KEY_ENV", "SESSION_SECRET_ENV", "THROTTLE_ENVS",
           "ServerSettings"]

ADMIN_TOKEN_ENV = "CLAUSEGUARD_ADMIN_TOKEN"
GUARDRAIL_KEY_ENV = "CLAUSEGUARD_GUARDRAIL_API_KEY"
AUDIT_WAIT_ENV = "CLAUSEGUARD_AUDIT_WAIT_FOR_COMMIT"
SESSION_SECRET_ENV = "CLAUSEGUARD_SESSION_SECRET"
RATE_LIMIT_DB_ENV = "CLAUSEGUARD_RATE_LIMIT_DB"
# The public routes' throttles (per client address, see guards/server/throttle.py): field -> variable.
THROTTLE_ENVS = {"intake_burst": "CLAUSEGUARD_INTAKE_BURST", "intake_per_hour": "CLAUSEGUARD_INTAKE_PER_HOUR",
                 "questionnaire_burst": "CLAUSEGUARD_QUESTIONNAIRE_BURST",
                 "questionnaire_per_hour": "CLAUSEGUARD_QUESTIONNAIRE_PER_HOUR"}


class ServerSettings(BaseModel):
    """What ``create_app`` needs besides the guards and the database."""

    # A wrong value may be a secret (a token too short): errors name the field, never show the value.
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    trusted_proxies: tuple[str, ...] = Field(
        default=(), description="addresses or CIDR networks whose X-Forwarded-For is believed")
    max_json_bytes: int = Field(default=1_000_000, gt=0, description="largest JSON or form body")
    max_image_bytes: int = Field(default=20_000_000, gt=0, description="largest body on image endpoints")
    admin_token: str | None = Field(default=None, description=f"bootstrap admin token (env {ADMIN_TOKEN_ENV})")
    guardrail_api_key: str | None = Field(
        default=None, description=f"key LiteLLM must send to the guardrail endpoint (env {GUARDRAIL_KEY_ENV})")
    session_secret: str | None = Field(
        default=None, description=f"signs the pages' CSRF tokens and moderators' sessions (env {SESSION_SECRET_ENV}); "
        "share it between workers. Without it a random secret lasts as long as the app")
    title: str = "clauseguard"
    audit_wait_for_commit: bool = Field(
        default=False, description="answer a check only after its audit record is committed "
        f"(env {AUDIT_WAIT_ENV}=1); otherwise within audit_max_wait_ms plus one commit after the answer")
    audit_max_wait_ms: float = Field(default=5.0, ge=0, le=1000,
                                     description="longest a queued audit record waits for its batch to close")
    audit_max_batch: int = Field(default=256, ge=1, le=10_000, description="audit records per transaction, at most")
    audit_queue_size: int = Field(default=10_000, ge=1, description="queued audit records before checks wait")
    rate_limit_db: str | None = Field(
        default=None, description=f"where the rate_limit guards keep their buckets (env {RATE_LIMIT_DB_ENV}): a SQLite "
        "file the workers of a host share, or a PostgreSQL URL several hosts share; without it each worker counts "
        "on its own")
    intake_burst: int = Field(
        default=10, ge=1, le=1_000_000, description="notices, complaints and counter-notices one client address "
        f"may file at once (env {THROTTLE_ENVS['intake_burst']}); then intake_per_hour")
    intake_per_hour: float = Field(
        default=30, gt=0, le=3_600_000, description="how fast a client's intake allowance comes back "
        f"(env {THROTTLE_ENVS['intake_per_hour']})")
    questionnaire_burst: int = Field(
        default=20, ge=1, le=1_000_000, description="questionnaire previews and downloads one client address may "
        f"ask for at once (env {THROTTLE_ENVS['questionnaire_burst']}); then questionnaire_per_hour")
    questionnaire_per_hour: float = Field(
        default=240, gt=0, le=3_600_000, description="how fast a client's questionnaire allowance comes back "
        f"(env {THROTTLE_ENVS['questionnaire_per_hour']})")

    @field_validator("intake_burst", "intake_per_hour", "questionnaire_burst", "questionnaire_per_hour",
                     mode="before")
    @classmethod
    def _number(cls, value: object, info: ValidationInfo) -> object:
        """A number, or the text of one from the environment; anything else names the variable that sets it."""
        if isinstance(value, str):
            try:
                return int(value) if "burst" in str(info.field_name) else float(value)
            except ValueError:
                kind = "a whole number" if "burst" in str(info.field_name) else "a number"
                raise ValueError(f"{THROTTLE_ENVS[str(info.field_name)]}: expected {kind}") from None
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError as err:
                raise ValueError(f"trusted proxy {item!r} is not an address or network: {err}") from err
        return value

    @field_validator("admin_token", "guardrail_api_key")
    @classmethod
    def _long_enough(cls, value: str | None) -> str | None:
        if value is not None and len(value) < 16:
            raise ValueError("a token must be at least 16 characters long")
        return value

    @field_validator("session_secret")
    @classmethod
    def _secret_long_enough(cls, value: str | None) -> str | None:
        if value is not None and len(value) < 32:
            raise ValueError("the session secret must be at least 32 characters long")
        return value

    @classmethod
    def from_env(cls, **overrides: object) -> ServerSettings:
        """Settings with the tokens taken from the environment unless given."""
        values: dict[str, object] = {
            "admin_token": os.environ.get(ADMIN_TOKEN_ENV) or None,
            "guardrail_api_key": os.environ.get(GUARDRAIL_KEY_ENV) or None,
            "session_secret": os.environ.get(SESSION_SECRET_ENV) or None,
            "audit_wait_for_commit": os.environ.get(AUDIT_WAIT_ENV, "").strip().lower() in ("1", "true", "yes"),
            "rate_limit_db": os.environ.get(RATE_LIMIT_DB_ENV) or None,
            **{name: os.environ.get(env, "").strip() or None for name, env in THROTTLE_ENVS.items()},
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        values = {k: v for k, v in values.items() if v is not None or k not in THROTTLE_ENVS}
        return cls.model_validate(values)

    def proxy_networks(self) -> tuple[Network, ...]:
        return tuple(ipaddress.ip_network(p, strict=False) for p in self.trusted_proxies)
