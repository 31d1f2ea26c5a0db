"""Alembic migrations of the records database."""
