"""The database layer: SQLAlchemy 2 models, engine and sessions, Alembic migrations.

Money columns are BIGINT fen and ratios integer basis points, as everywhere in the
platform; statuses are Python enums stored as their string values so that a row reads
the same in SQLite, PostgreSQL and a CSV export.
"""

from huiminbao.db.base import Base
from huiminbao.db.session import Database, SessionDep, get_session, make_engine

__all__ = ["Base", "Database", "SessionDep", "get_session", "make_engine"]
