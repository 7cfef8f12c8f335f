"""The admission middleware: no more requests worked on at once than its limit, the rest served after."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from starlette.types import Receive, Scope, Send

from huiminbao.api.admission import Admission


def test_requests_past_the_limit_wait_their_turn() -> None:
    busy = peak = done = 0

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        nonlocal busy, peak, done
        busy += 1
        peak = max(peak, busy)
        await asyncio.sleep(0.01)
        busy -= 1
        done += 1

    async def run() -> None:
        admitted = Admission(app, limit=3)
        await asyncio.gather(*(admitted({"type": "http"}, None, None) for _ in range(20)))  # type: ignore[arg-type]
        await admitted({"type": "lifespan"}, None, None)  # type: ignore[arg-type]

    with ThreadPoolExecutor(1) as pool:  # a loop of its own: the browser tests leave one running in this thread
        pool.submit(asyncio.run, run()).result()
    assert peak == 3 and done == 21
