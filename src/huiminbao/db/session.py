"""Engines and sessions: one ``Database`` per app (or test), no hidden global engine.

An app gets its ``Database`` from its settings and keeps it on ``app.state``; the
``SessionDep`` dependency opens one session per request from there. So a test can run
an app on its own temporary database while another app in the same process uses a
different one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import anyio.to_thread
import sqlalchemy as sa
from fastapi import Depends, Request
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """SQLite leaves foreign keys off by default; WAL lets the web app read while a batch writes."""
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=5000")
    cur.close()


def ensure_sqlite_dir(url: str) -> None:
    """Create the folder of a SQLite database file, so a fresh checkout just works."""
    u = make_url(url)
    if u.get_backend_name() == "sqlite" and u.database not in (None, "", ":memory:"):
        Path(u.database).parent.mkdir(parents=True, exist_ok=True)


AFTER_COMMIT = "after_commit"  # session.info key: {name: task(session)} to run once the work has committed


def make_engine(url: str, **kwargs: Any) -> sa.Engine:
    """An engine for ``url``; SQLite gets its pragmas, PostgreSQL pre-pings pooled connections."""
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        ensure_sqlite_dir(url)
        kwargs.setdefault("connect_args", {"check_same_thread": False})
        engine = sa.create_engine(u, **kwargs)
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return sa.create_engine(u, **kwargs)


@dataclass
class Database:
    """An engine and its session factory."""

    engine: sa.Engine
    sessions: sessionmaker[Session]

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> Database:
        engine = make_engine(url, **kwargs)
        return cls(engine=engine, sessions=sessionmaker(engine, expire_on_commit=False))

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: commit on success, roll back on any error. Then the follow-up tasks the work
        left in ``session.info[AFTER_COMMIT]`` run, each in a transaction of its own."""
        with self.sessions() as s, s.begin():
            yield s
        for task in s.info.pop(AFTER_COMMIT, {}).values():
            with self.sessions() as follow, follow.begin():
                task(follow)

    def dispose(self) -> None:
        self.engine.dispose()


async def get_session(request: Request) -> AsyncIterator[Session]:
    """FastAPI dependency: a session on the app's database, closed after the request.

    Routes commit explicitly; what they leave uncommitted is rolled back on close. Async, so opening
    the session (no I/O) and closing it after a commit (no I/O either) cost no trip through the thread
    pool; a session left inside a transaction is rolled back and closed in a worker thread.
    """
    db: Database = request.app.state.db
    session = db.sessions()
    try:
        yield session
    finally:
        if session.in_transaction():
            await anyio.to_thread.run_sync(session.close)
        else:
            session.close()


SessionDep = Annotated[Session, Depends(get_session)]
