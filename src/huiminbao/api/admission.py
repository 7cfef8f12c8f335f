"""Admission: at most ``limit`` requests of one server process are worked on at once; the others wait
their turn in the event loop, where waiting costs nothing.

Sync routes run in worker threads. Past a few at once, the threads mostly hand the GIL to each other
(and a thread that holds a database lock waits its turn for the GIL too), so more requests in flight
means fewer done per second and a long tail. Measured with ``bench/purchase.py`` on 2 cores: see the
README's figures for 8, 16 and 32 concurrent clients.
"""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Receive, Scope, Send


class Admission:
    """Pure ASGI middleware: a semaphore around each HTTP request."""

    def __init__(self, app: ASGIApp, limit: int):
        self.app = app
        self.slots = asyncio.Semaphore(limit)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        async with self.slots:
            await self.app(scope, receive, send)
