"""Running the packaged Alembic migrations from code (``hmb db upgrade``, tests).

The Alembic config is built here, pointing at the migrations folder inside the
installed package, so upgrading works from any directory and from a wheel, with no
``alembic.ini`` on the path.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from huiminbao.db.session import ensure_sqlite_dir

DB_DIR = Path(__file__).parent
MIGRATIONS_DIR = DB_DIR / "migrations"


def alembic_config(url: str | None = None, connection: sa.Connection | None = None) -> Config:
    """A Config for the packaged migrations on ``url`` (default: the settings' URL)."""
    cfg = Config(str(DB_DIR / "alembic.ini"))
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    # Leave the application's logging alone when called from code.
    cfg.attributes["configure_logger"] = False
    if url is not None:
        ensure_sqlite_dir(url)
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def upgrade(url: str | None = None, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str | None = None, revision: str = "base") -> None:
    command.downgrade(alembic_config(url), revision)


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(connection: sa.Connection) -> str | None:
    """The revision the database is at, or None if it was never migrated."""
    return MigrationContext.configure(connection).get_current_revision()
