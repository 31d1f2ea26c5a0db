"""Audit records whose IP-derived user key can be cleared while the chain still verifies (format 2).

A privacy notice says IP addresses are deleted ``ip_retention_days`` after they are logged, and that
records of safety checks are kept at least six months (the DSA Art. 20 complaint window). A record
hashed over its ``user_key`` cannot lose that field without breaking the chain, so before this revision
keeping the records six months kept the ``ip:`` pseudonyms in them six months too.

A format-2 record hashes, instead of ``user_key``, ``user_key_kind`` (``ip``, ``net``, ``user`` or
``other``) and ``user_key_commit = HMAC-SHA256(key=user_key_salt, msg=user_key)``, with a random salt
stored beside the key. A purge clears ``user_key`` and ``user_key_salt`` (nothing else) of records
whose key is IP-derived once ``ip_retention_days`` have passed; the commitment stays and the chain still
verifies. Without the salt the commitment cannot be tested against guessed addresses. Records written
before this revision (``format`` NULL) are hashed as before and verify as before.

The append-only trigger is replaced by one that allows exactly that update: ``user_key`` and
``user_key_salt`` set to NULL on a format-2 record of kind ``ip`` or ``net``, every other column
unchanged. Deleting stays allowed at or below the purge anchor only.

Revision ID: 0005_audit_clearable_user_key
Revises: 0004_informed_and_retracted
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_audit_clearable_user_key"
down_revision = "0004_informed_and_retracted"
branch_labels = None
depends_on = None

_KEPT = ("seq", "time", "request_id", "stage", "guard_id", "action", "allowed", "score", "clause_ids",
         "document_versions", "findings", "prev_hash", "hash", "format", "user_key_kind", "user_key_commit")
_CLEARABLE = "('ip', 'net')"
_MESSAGE = "audit_log is append-only (a purge may only clear an IP-derived user_key and its salt)"
_SQLITE_KEPT = " AND ".join(f"NEW.{c} IS OLD.{c}" for c in _KEPT)
_PG_KEPT = (f"ROW({', '.join(f'NEW.{c}' for c in _KEPT)}) IS NOT DISTINCT FROM "
            f"ROW({', '.join(f'OLD.{c}' for c in _KEPT)})")

SQLITE_NO_UPDATE = f"""CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
   WHEN NOT (NEW.user_key IS NULL AND NEW.user_key_salt IS NULL AND OLD.format = 2
             AND OLD.user_key_kind IN {_CLEARABLE} AND {_SQLITE_KEPT})
   BEGIN SELECT RAISE(ABORT, '{_MESSAGE}'); END"""
SQLITE_OLD_NO_UPDATE = """CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
       BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END"""
PG_FUNCTION = f"""CREATE OR REPLACE FUNCTION clauseguard_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
   BEGIN
     IF TG_OP = 'DELETE' AND OLD.seq <= (SELECT anchor_seq FROM audit_head WHERE id = 1) THEN
       RETURN OLD;
     END IF;
     IF TG_OP = 'UPDATE' AND NEW.user_key IS NULL AND NEW.user_key_salt IS NULL AND OLD.format = 2
        AND OLD.user_key_kind IN {_CLEARABLE} AND {_PG_KEPT} THEN
       RETURN NEW;
     END IF;
     RAISE EXCEPTION '{_MESSAGE} (%)', TG_OP;
   END $$"""
PG_OLD_FUNCTION = """CREATE OR REPLACE FUNCTION clauseguard_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
   BEGIN
     IF TG_OP = 'DELETE' AND OLD.seq <= (SELECT anchor_seq FROM audit_head WHERE id = 1) THEN
       RETURN OLD;
     END IF;
     RAISE EXCEPTION 'audit_log is append-only (%)', TG_OP;
   END $$"""


def _postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    op.add_column("audit_log", sa.Column("format", sa.Integer))
    op.add_column("audit_log", sa.Column("user_key_kind", sa.String(10)))
    op.add_column("audit_log", sa.Column("user_key_commit", sa.String(64)))
    op.add_column("audit_log", sa.Column("user_key_salt", sa.String(32)))
    if _postgresql():
        op.execute(PG_FUNCTION)
        return
    op.execute("DROP TRIGGER audit_log_no_update")
    op.execute(SQLITE_NO_UPDATE)


def downgrade() -> None:
    if _postgresql():
        op.execute(PG_OLD_FUNCTION)
    else:
        op.execute("DROP TRIGGER audit_log_no_update")
        op.execute(SQLITE_OLD_NO_UPDATE)
    with op.batch_alter_table("audit_log") as batch:
        for column in ("user_key_salt", "user_key_commit", "user_key_kind", "format"):
            batch.drop_column(column)
