"""Alembic environment: where the URL comes from, and batch mode for SQLite.

The URL is taken, in order, from a connection handed over in ``config.attributes``
(tests), ``-x url=...``, ``sqlalchemy.url`` in the config, and finally the platform's
settings (``HMB_DATABASE_URL``), so ``hmb db upgrade`` and plain ``alembic`` agree.
``render_as_batch`` makes ALTERs work on SQLite, which cannot alter most things in place.
"""

from __future__ import annotations

from logging.config import fileConfig

import sqlalchemy as sa
from alembic import context

from huiminbao.db import tables  # noqa: F401  (registers every table on Base.metadata)
from huiminbao.db.base import Base
from huiminbao.db.session import make_engine

config = context.config
target_metadata = Base.metadata

if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def _url() -> str:
    x = context.get_x_argument(as_dictionary=True)
    url = x.get("url") or config.get_main_option("sqlalchemy.url")
    if url:
        return url
    from huiminbao.settings import get_settings

    return get_settings().database_url


def _configure(connection: sa.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline() -> None:
    url = _url()
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=url.startswith("sqlite"),
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        return
    engine = make_engine(_url(), poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            _configure(conn)
            conn.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
