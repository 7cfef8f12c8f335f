"""The FastAPI application: REST API under /api, the web UI, /healthz and /docs.

``create_app`` takes its settings as an argument so tests can build an app on a
temporary database; the module-level ``app`` (what ``uvicorn huiminbao.api.app:app``
serves) is built lazily on first access, so importing this module has no side effects.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict, deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from functools import cache
from typing import Any

import anyio.to_thread
import structlog
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from huiminbao import __version__
from huiminbao.api import docs, errors
from huiminbao.api.admission import Admission
from huiminbao.api.headers import SecurityHeaders
from huiminbao.api.logs import RequestLogMiddleware, configure_logging
from huiminbao.api.routes import (
    actuarial,
    auth,
    claims,
    enrollment,
    estimate,
    groups,
    health,
    hospital,
    notifications,
    payments,
    persons,
    plans,
    roster,
    service,
    settlements,
    supervision,
    whatif,
)
from huiminbao.db.session import Database
from huiminbao.flows.onestop import Batcher
from huiminbao.identity import audit
from huiminbao.settings import Settings, get_settings
from huiminbao.web import STATIC_DIR
from huiminbao.web import actuarial as web_actuarial
from huiminbao.web import admin as web_admin
from huiminbao.web import auth as web_auth
from huiminbao.web import claims as web_claims
from huiminbao.web import dashboard as web_dashboard
from huiminbao.web import enrollment as web_enrollment
from huiminbao.web import estimate as web_estimate
from huiminbao.web import groups as web_groups
from huiminbao.web import roster as web_roster
from huiminbao.web import routes as web_routes
from huiminbao.web import service as web_service
from huiminbao.web import settlements as web_settlements
from huiminbao.web import supervision as web_supervision
from huiminbao.web import whatif as web_whatif

DESCRIPTION = """惠民保运营平台 API, version 1 under `/api/v1`. Amounts are yuan with two decimals
("3200.00"), ratios as the plan writes them ("80%"), field names those of the national medical
insurance information platform (setlinfo, feedetl). Every error is a 4xx (or 500) with the body
`{"code": "snake_case_reason", "message": "一句中文说明", "field": "path.to.field or null"}`."""


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build an app bound to ``settings`` (default: the process settings)."""
    settings = settings or get_settings()
    configure_logging(settings.log_level, settings.log_json)
    # A pool as large as the requests one process serves at once: a connection opened and closed per
    # request beyond the pool (SQLAlchemy's default keeps 5) costs PostgreSQL a new backend each time.
    db = Database.from_url(settings.database_url, pool_size=settings.db_pool, max_overflow=settings.db_pool)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        sealer = asyncio.create_task(_seal_every(db, settings.audit_seal_seconds))
        yield
        sealer.cancel()
        with suppress(asyncio.CancelledError):
            await sealer
        await _seal(db)  # what the last requests wrote
        db.dispose()

    app = FastAPI(
        title="惠民保运营平台 API",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # served by api.docs from local files
        redoc_url=None,
        openapi_tags=[
            {"name": "health", "description": "liveness and database connectivity"},
            {"name": "plans", "description": "plans as data: cities, years, tiers, liabilities"},
        ],
    )
    app.state.settings = settings
    app.state.db = db
    app.state.batcher = Batcher(db, settings.settle_batch)
    app.state.sign_in_attempts = defaultdict(deque)  # address -> times of recent sign-in attempts
    app.add_middleware(RequestLogMiddleware)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(
        Admission, limit=settings.inflight, exempt={settlements.SETTLE}
    )  # outermost: waiting costs nothing
    errors.install(app, web_routes.not_found_page, web_routes.refused_page)
    app.include_router(docs.router)
    app.include_router(health.router)
    app.include_router(plans.router)
    app.include_router(estimate.router)
    app.include_router(auth.router)
    app.include_router(hospital.router)
    app.include_router(persons.router)
    app.include_router(enrollment.router)
    app.include_router(roster.router)
    app.include_router(payments.router)
    app.include_router(groups.router)
    app.include_router(supervision.router)
    app.include_router(settlements.router)
    app.include_router(actuarial.router)
    app.include_router(whatif.router)
    app.include_router(claims.router)
    app.include_router(notifications.router)
    app.include_router(service.router)
    app.include_router(web_routes.router)
    app.include_router(web_estimate.router)
    app.include_router(web_auth.router)
    app.include_router(web_admin.router)
    app.include_router(web_roster.router)
    app.include_router(web_enrollment.router)
    app.include_router(web_supervision.router)
    app.include_router(web_dashboard.router)
    app.include_router(web_settlements.router)
    app.include_router(web_groups.router)
    app.include_router(web_actuarial.router)
    app.include_router(web_whatif.router)
    app.include_router(web_service.router)
    app.include_router(web_claims.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app


async def _seal_every(db: Database, seconds: float) -> None:
    """Chain the audit entries requests have written, in the background (see ``identity.audit``)."""
    while True:
        await asyncio.sleep(seconds)
        await _seal(db)


async def _seal(db: Database) -> None:
    try:
        await anyio.to_thread.run_sync(audit.seal_pending, db)
    except Exception:  # a busy or unreachable database: the next round seals them
        structlog.get_logger("huiminbao.audit").warning("audit.seal_failed", exc_info=True)


@cache
def _default_app() -> FastAPI:
    return create_app()


def __getattr__(name: str) -> Any:
    if name == "app":
        return _default_app()
    raise AttributeError(name)
