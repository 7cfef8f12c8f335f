"""Structured logging (structlog) and a request log that cannot leak personal data.

Configured once per process: the app factory may run many times in tests, but
reconfiguring loggers each time would drop handlers other code holds. The request log
records the *route template* (``/api/plans/{plan_id}``), never the raw path or query
string, because later routes carry ID numbers, names and phone numbers in them.
"""

from __future__ import annotations

import logging
import sys
import time
import uuid
from typing import Any

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from huiminbao.identity.phone import redact_phones
from huiminbao.identity.pii import redact_certnos

_configured = False


def configure_logging(level: str = "INFO", json: bool | None = None) -> None:
    """Set up structlog and the stdlib root logger once; later calls do nothing."""
    global _configured
    if _configured:
        return
    _configured = True
    if json is None:
        json = not sys.stderr.isatty()
    renderer: Any = structlog.processors.JSONRenderer(ensure_ascii=False) if json else structlog.dev.ConsoleRenderer()
    logging.basicConfig(level=level, stream=sys.stderr, format="%(message)s")
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            _redact,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelNamesMapping()[level]),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,  # lets tests capture logs; the cost is negligible
    )


def _redact(_logger: Any, _method: str, event: dict[str, Any]) -> dict[str, Any]:
    """Defence in depth: whatever a log line carries, anything shaped like an ID number or a mobile phone
    number is masked."""
    return {k: redact_phones(redact_certnos(v)) if isinstance(v, str) else v for k, v in event.items()}


class RequestLogMiddleware:
    """Logs one line per HTTP request: request id (also answered as ``X-Request-ID``), method, route
    template, the signed-in user and role (or hospital) if any, status, milliseconds."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.log = structlog.get_logger("huiminbao.http")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500
        request_id = uuid.uuid4().hex[:16]
        structlog.contextvars.bind_contextvars(request_id=request_id)

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            state = scope.get("state") or {}
            who = state.get("who") or (None, None)
            self.log.info(
                "request",
                request_id=request_id,
                method=scope["method"],
                route=getattr(route, "path", None) or ("static" if scope["path"].startswith("/static/") else "-"),
                user=who[0],
                role=who[1],
                hospital=state.get("hospital"),
                status=status,
                ms=round((time.perf_counter() - start) * 1000, 1),
            )
            structlog.contextvars.unbind_contextvars("request_id")
