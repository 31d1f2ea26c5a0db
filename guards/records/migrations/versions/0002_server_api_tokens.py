"""Bearer tokens of the HTTP service (server_api_tokens): salted scrypt digests, roles, revocation.

Before this revision the server created the table itself (``MetaData.create_all``), so a database
that already has it keeps it as it is (same columns); every other database gets it here, and one
``alembic upgrade head`` creates every table the project uses.

Revision ID: 0002_server_api_tokens
Revises: 0001_initial
Create Date: 2025-02-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_server_api_tokens"
down_revision = "0001_initial"
branch_labels = None
depends_on = None

TABLE = "server_api_tokens"


def upgrade() -> None:
    if sa.inspect(op.get_bind()).has_table(TABLE):
        return
    op.create_table(
        TABLE,
        sa.Column("id", sa.String(16), primary_key=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("salt", sa.LargeBinary(16), nullable=False),
        sa.Column("digest", sa.LargeBinary(32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
    )


def downgrade() -> None:
    op.drop_table(TABLE)
