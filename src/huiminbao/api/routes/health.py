"""``/healthz``: is the process up and can it reach its database?

Load balancers and ``make demo`` poll this; it answers 503 when the database is
unreachable so a broken instance is taken out of rotation instead of serving errors.
"""

from __future__ import annotations

from typing import Literal

import sqlalchemy as sa
import structlog
from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel

from huiminbao import __version__
from huiminbao.access.policies import Public
from huiminbao.db import SessionDep
from huiminbao.db.migrate import current_revision

router = APIRouter(tags=["health"], dependencies=[Depends(Public())])
log = structlog.get_logger(__name__)


class Health(BaseModel):
    status: Literal["ok", "error"]
    version: str
    database: Literal["ok", "error"]
    schema_revision: str | None = None  # Alembic revision; None if never migrated


@router.get("/healthz", response_model=Health)
def healthz(session: SessionDep, response: Response) -> Health:
    try:
        session.execute(sa.text("SELECT 1"))
        revision = current_revision(session.connection())
    except sa.exc.SQLAlchemyError as exc:
        log.warning("healthz.database_error", error=type(exc).__name__)
        response.status_code = 503
        return Health(status="error", version=__version__, database="error")
    return Health(status="ok", version=__version__, database="ok", schema_revision=revision)
