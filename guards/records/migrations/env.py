"""Alembic environment for the record store.

The store runs migrations programmatically (``RecordStore.migrate``) and hands over its connection in
``config.attributes["connection"]``; run from the command line, the URL comes from ``-x url=...`` or
``sqlalchemy.url``. Autogenerate compares against :mod:`clauseguard.guards.records.models`.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from clauseguard.guards.records.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: object) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    engine = create_engine(url)
    with engine.connect() as conn:
        _run(conn)


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata,
                      literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
