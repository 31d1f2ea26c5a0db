"""Initial schema: audit log with head and append-only triggers, notices, decisions, counter-notices,
strikes, complaints, acceptances, flagged images.

Revision ID: 0001_initial
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from clauseguard.guards.records._types import HashType, UserKeyType, UTCDateTime

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None

GENESIS = "0" * 64

# Deleting audit records is allowed only at or below the anchor a purge has just written in
# audit_head (same transaction); every UPDATE, and every other DELETE, is refused.
SQLITE_TRIGGERS = (
    """CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
       BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END""",
    """CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
       WHEN OLD.seq > (SELECT anchor_seq FROM audit_head WHERE id = 1)
       BEGIN SELECT RAISE(ABORT, 'audit_log is append-only (purge moves the anchor first)'); END""",
)
PG_TRIGGERS = (
    """CREATE FUNCTION clauseguard_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         IF TG_OP = 'DELETE' AND OLD.seq <= (SELECT anchor_seq FROM audit_head WHERE id = 1) THEN
           RETURN OLD;
         END IF;
         RAISE EXCEPTION 'audit_log is append-only (%)', TG_OP;
       END $$""",
    """CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
       FOR EACH ROW EXECUTE FUNCTION clauseguard_audit_append_only()""",
    """CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
       FOR EACH STATEMENT EXECUTE FUNCTION clauseguard_audit_append_only()""",
)


def _audit() -> None:
    op.create_table(
        "audit_log",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("time", sa.String(40), nullable=False),
        sa.Column("request_id", sa.String(200)),
        sa.Column("stage", sa.String(20)),
        sa.Column("guard_id", sa.String(200)),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("allowed", sa.Boolean, nullable=False),
        sa.Column("score", sa.Float),
        sa.Column("clause_ids", sa.Text, nullable=False),
        sa.Column("document_versions", sa.Text, nullable=False),
        sa.Column("findings", sa.Text, nullable=False),
        sa.Column("user_key", UserKeyType()),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False, unique=True),
    )
    head = op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("anchor_seq", sa.Integer, nullable=False),
        sa.Column("anchor_hash", sa.String(64), nullable=False),
    )
    op.bulk_insert(head, [{"id": 1, "seq": 0, "hash": GENESIS, "anchor_seq": 0, "anchor_hash": GENESIS}])
    for statement in PG_TRIGGERS if op.get_bind().dialect.name == "postgresql" else SQLITE_TRIGGERS:
        op.execute(statement)


def _notices() -> None:
    op.create_table(
        "notices",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("reference", sa.String(40), nullable=False, unique=True),
        sa.Column("regime", sa.String(20), nullable=False, index=True),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("deadline", UTCDateTime(), nullable=False, index=True),
        sa.Column("status", sa.String(20), nullable=False, index=True),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("locations", sa.JSON, nullable=False),
        sa.Column("uploader_key", UserKeyType()),
        sa.Column("notifier_ip_key", UserKeyType()),
    )
    op.create_table(
        "decisions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("reference", sa.String(40), nullable=False, unique=True),
        sa.Column("notice_id", sa.Integer, sa.ForeignKey("notices.id"), index=True),
        sa.Column("decided_at", UTCDateTime(), nullable=False),
        sa.Column("restriction", sa.String(40), nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("automated_detection", sa.Boolean, nullable=False),
        sa.Column("automated_decision", sa.Boolean, nullable=False),
        sa.Column("statement", sa.JSON, nullable=False),
        sa.Column("uploader_key", UserKeyType()),
    )
    op.create_table(
        "counter_notices",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("reference", sa.String(40), nullable=False, unique=True),
        sa.Column("notice_id", sa.Integer, sa.ForeignKey("notices.id"), nullable=False, index=True),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("restore_not_before", UTCDateTime(), nullable=False),
        sa.Column("restore_not_after", UTCDateTime(), nullable=False),
        sa.Column("court_action_at", UTCDateTime()),
        sa.Column("restored_at", UTCDateTime()),
        sa.Column("payload", sa.JSON, nullable=False),
    )
    op.create_table(
        "strikes",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("uploader_key", UserKeyType(), nullable=False, index=True),
        sa.Column("notice_id", sa.Integer, sa.ForeignKey("notices.id")),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("withdrawn", sa.Boolean, nullable=False),
    )
    op.create_table(
        "complaints",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("reference", sa.String(40), nullable=False, unique=True),
        sa.Column("decision_id", sa.Integer, sa.ForeignKey("decisions.id"), nullable=False, index=True),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("explanation", sa.Text, nullable=False),
        sa.Column("complainant_key", UserKeyType()),
        sa.Column("outcome", sa.String(20)),
        sa.Column("outcome_reasons", sa.Text),
        sa.Column("resolved_at", UTCDateTime()),
    )


def _acceptances_and_images() -> None:
    op.create_table(
        "acceptances",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("subject_key", UserKeyType(), nullable=False, index=True),
        sa.Column("document_id", sa.String(100), nullable=False),
        sa.Column("version", sa.String(40), nullable=False),
        sa.Column("sha256", HashType(), nullable=False),
        sa.Column("accepted_at", UTCDateTime(), nullable=False),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("ip_key", UserKeyType()),
        sa.UniqueConstraint("subject_key", "document_id", "sha256", name="uq_acceptance"),
    )
    op.create_table(
        "flagged_images",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("sha256", HashType(), nullable=False, index=True),
        sa.Column("phash", HashType(), index=True),
        sa.Column("flagged_at", UTCDateTime(), nullable=False),
        sa.Column("guard_id", sa.String(200)),
        sa.Column("clause_ids", sa.JSON, nullable=False),
        sa.Column("meta", sa.JSON, nullable=False),
        sa.Column("user_key", UserKeyType()),
    )


def upgrade() -> None:
    _audit()
    _notices()
    _acceptances_and_images()


def downgrade() -> None:
    for table in ("flagged_images", "acceptances", "complaints", "strikes", "counter_notices", "decisions",
                  "notices", "audit_head", "audit_log"):
        op.drop_table(table)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS clauseguard_audit_append_only()")
