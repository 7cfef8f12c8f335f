"""Admission: at most ``limit`` requests of one server process are worked on at once; the others wait
their turn in the event loop, where waiting costs nothing.

Sync routes run in worker threads. Past a few at once, the threads mostly hand the GIL to each other
(and a thread that holds a database lock waits its turn for the GIL too), so more requests in flight
means fewer done per second and a long tail. Measured with ``bench/purchase.py`` on 2 cores: see the
README's figures for 8, 16 and 32 concurrent clients.

One-stop settlements are exempt: they wait in ``flows.onestop.Batcher``'s queue instead, where the more
of them wait, the more are settled in one engine call.
"""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Receive, Scope, Send


class Admission:
    """Pure ASGI middleware: a semaphore around each HTTP request."""

    def __init__(
        self, app: ASGIApp, limit: int, exempt: frozenset[tuple[str, str]] | set[tuple[str, str]] = frozenset()
    ):
        self.app = app
        self.slots = asyncio.Semaphore(limit)
        self.exempt = frozenset(exempt)  # (method, path) of routes that queue their own work

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (scope.get("method"), scope.get("path")) in self.exempt:
            await self.app(scope, receive, send)
            return
        async with self.slots:
            await self.app(scope, receive, send)
