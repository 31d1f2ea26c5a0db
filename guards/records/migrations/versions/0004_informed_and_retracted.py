"""When the recipient of a decision was informed of it (``decisions.informed_at``), and when a notice
was retracted by its notifier (``notices.retracted_at``).

DSA Art. 20(1) keeps the complaint system open "for a period of at least six months following the
decision", and Art. 20(2) starts that period on the day the recipient is informed of the decision
(under Art. 16(5) or Art. 17). Before this revision the window was counted
from ``decided_at``; a decision whose recipient was told days later lost those days. The column is
nullable: a decision without it (every decision made before this revision, and one whose recipient was
informed at the moment of deciding) counts from ``decided_at``, as before.

A notice retracted by its notifier gets status ``retracted`` and its strikes are withdrawn (the
repeat-infringer policy says so); ``retracted_at`` dates it, so a transparency report counts the
retraction in the period it happened. Older notices have none (they were never retracted).

Revision ID: 0004_informed_and_retracted
Revises: 0003_audit_anchor_triggers
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from clauseguard.guards.records._types import UTCDateTime

revision = "0004_informed_and_retracted"
down_revision = "0003_audit_anchor_triggers"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("decisions", sa.Column("informed_at", UTCDateTime(), nullable=True))
    op.add_column("notices", sa.Column("retracted_at", UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("notices") as batch:
        batch.drop_column("retracted_at")
    with op.batch_alter_table("decisions") as batch:
        batch.drop_column("informed_at")
