"""Storage: one SQLAlchemy schema for SQLite (one machine, WAL) and PostgreSQL (scale-out)."""

from keel.db.engine import Database, open_database

__all__ = ["Database", "open_database"]
