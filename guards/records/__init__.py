"""Records: the audit log, notices and takedowns, acceptances (SQLAlchemy; SQLite by default)."""
