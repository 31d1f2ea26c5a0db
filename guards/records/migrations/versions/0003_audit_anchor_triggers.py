"""Triggers guarding the purge anchor and the head: the anchor only moves forward, onto a record that is
there; records are only inserted after the head; the head row cannot be deleted.

Before this revision one UPDATE of ``audit_head.anchor_seq`` made every record at or below it deletable
(the append-only trigger allows deleting there, for purges), and a deleted record could be put back
edited. Now moving the anchor backwards, past the head, or onto a hash that is not the hash of the
record at that seq is refused, and so is inserting a record at or below the head. A purge does exactly
what these allow: it moves the anchor to a record still present, then deletes up to it.

These stop mistakes and casual edits, not the owner of the database, who can drop triggers; the copy of
head and anchor kept outside the database is what detects that (see ``guards/records/audit.py``).

Revision ID: 0003_audit_anchor_triggers
Revises: 0002_server_api_tokens
Create Date: 2025-03-01
"""

from __future__ import annotations

from alembic import op

revision = "0003_audit_anchor_triggers"
down_revision = "0002_server_api_tokens"
branch_labels = None
depends_on = None

_ANCHOR = "audit_head: the purge anchor only moves forward, up to the head, onto the hash of a record present"
_INSERT = "audit_log is append-only (records are inserted after the head only)"
_HEAD_ROW = "audit_head: the head row cannot be deleted"

SQLITE_TRIGGERS = (
    f"""CREATE TRIGGER audit_head_anchor BEFORE UPDATE OF anchor_seq, anchor_hash, seq ON audit_head
       WHEN NEW.anchor_seq < OLD.anchor_seq OR NEW.anchor_seq > NEW.seq
         OR ((NEW.anchor_seq IS NOT OLD.anchor_seq OR NEW.anchor_hash IS NOT OLD.anchor_hash)
             AND NEW.anchor_hash IS NOT (SELECT hash FROM audit_log WHERE seq = NEW.anchor_seq))
       BEGIN SELECT RAISE(ABORT, '{_ANCHOR}'); END""",
    f"""CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head
       BEGIN SELECT RAISE(ABORT, '{_HEAD_ROW}'); END""",
    f"""CREATE TRIGGER audit_log_insert_after_head BEFORE INSERT ON audit_log
       WHEN NEW.seq <= (SELECT seq FROM audit_head WHERE id = 1)
       BEGIN SELECT RAISE(ABORT, '{_INSERT}'); END""",
)
PG_TRIGGERS = (
    f"""CREATE FUNCTION clauseguard_audit_head_guard() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         IF TG_OP = 'DELETE' THEN
           RAISE EXCEPTION '{_HEAD_ROW}';
         END IF;
         IF NEW.anchor_seq < OLD.anchor_seq OR NEW.anchor_seq > NEW.seq
            OR ((NEW.anchor_seq, NEW.anchor_hash) IS DISTINCT FROM (OLD.anchor_seq, OLD.anchor_hash)
                AND NEW.anchor_hash IS DISTINCT FROM (SELECT hash FROM audit_log WHERE seq = NEW.anchor_seq)) THEN
           RAISE EXCEPTION '{_ANCHOR}';
         END IF;
         RETURN NEW;
       END $$""",
    """CREATE TRIGGER audit_head_anchor BEFORE UPDATE OR DELETE ON audit_head
       FOR EACH ROW EXECUTE FUNCTION clauseguard_audit_head_guard()""",
    f"""CREATE FUNCTION clauseguard_audit_insert_after_head() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         IF NEW.seq <= (SELECT seq FROM audit_head WHERE id = 1) THEN
           RAISE EXCEPTION '{_INSERT}';
         END IF;
         RETURN NEW;
       END $$""",
    """CREATE TRIGGER audit_log_insert_after_head BEFORE INSERT ON audit_log
       FOR EACH ROW EXECUTE FUNCTION clauseguard_audit_insert_after_head()""",
)


def _postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    for statement in PG_TRIGGERS if _postgresql() else SQLITE_TRIGGERS:
        op.execute(statement)


def downgrade() -> None:
    if _postgresql():
        op.execute("DROP TRIGGER IF EXISTS audit_head_anchor ON audit_head")
        op.execute("DROP TRIGGER IF EXISTS audit_log_insert_after_head ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS clauseguard_audit_head_guard()")
        op.execute("DROP FUNCTION IF EXISTS clauseguard_audit_insert_after_head()")
        return
    for trigger in ("audit_head_anchor", "audit_head_no_delete", "audit_log_insert_after_head"):
        op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
