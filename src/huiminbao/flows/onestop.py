"""One-stop settlements in batches: the transaction around ``settlement.onestop.settle_many``.

The engine costs about the same for one record as for sixty (its cost is per call, not per record), so
a server process settles together the settlements that arrive while it is busy: when idle, a request is
settled alone at once; under load, each batch holds what queued during the last one. No two items of a
batch name the same person or ``setl_id``: a later record of a person waits for the next batch, so every
record is settled exactly as it would be alone, in arrival order.

A batch is one transaction. When it cannot commit (a racing send of the same ``setl_id`` on another
process committed first, or anything unexpected), each item is settled again alone, so one item never
spoils the others.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterable

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from huiminbao.db.session import Database
from huiminbao.identity.service import NONCE_REUSED, use_nonces
from huiminbao.settlement.onestop import Item, Outcome, SettlementRefused, batch_key, settle_many


def settle_batch(db: Database, items: list[Item]) -> list[Outcome]:
    """Settle ``items`` (distinct persons and ``setl_id``s) in one transaction; alone when that fails."""
    try:
        with db.session() as s:
            return _settle(s, items)
    except IntegrityError:
        if len(items) == 1:  # a racing send of the same setl_id committed first: answered from the store
            with db.session() as s:
                return _settle(s, items)
    except Exception:
        if len(items) == 1:
            raise
    return [settle_batch(db, [it])[0] for it in items]


def _settle(session: Session, items: list[Item]) -> list[Outcome]:
    """The signed requests' nonces recorded as used, then the settlements, in the caller's transaction:
    a replayed request (a nonce seen within the window) is refused and settles nothing."""
    signed = [(i, it.nonce) for i, it in enumerate(items) if it.nonce is not None]
    fresh = use_nonces(session=session, nonces=[n for _, n in signed]) if signed else []
    replayed = {i for (i, _), ok in zip(signed, fresh, strict=True) if not ok}
    todo = [it for i, it in enumerate(items) if i not in replayed]
    done = iter(settle_many(session=session, items=todo) if todo else [])
    return [
        SettlementRefused(401, "nonce_reused", NONCE_REUSED, "X-HMB-Nonce") if i in replayed else next(done)
        for i in range(len(items))
    ]


def batches(items: Iterable[Item], size: int) -> list[list[Item]]:
    """Consecutive items cut into batches of at most ``size``, a new batch starting where a person or
    ``setl_id`` would repeat: settling the batches in turn is settling the items one by one, in order."""
    out: list[list[Item]] = []
    seen: set[tuple[str, str]] = set()
    for it in items:
        keys = batch_key(it.body)
        if not out or len(out[-1]) >= size or keys & seen:
            out.append([])
            seen = set()
        out[-1].append(it)
        seen |= keys
    return out


class Batcher:
    """A server process's queue of one-stop settlements, settled a batch at a time in a worker thread."""

    def __init__(self, db: Database, size: int) -> None:
        self.db, self.size = db, size
        self.pending: deque[tuple[Item, asyncio.Future[Outcome]]] = deque()
        self.running: asyncio.Task[None] | None = None  # the loop keeps only weak references to tasks

    async def submit(self, item: Item) -> Outcome:
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self.pending.append((item, future))
        if self.running is None:
            self.running = asyncio.create_task(self._drain())  # ends when the queue is empty
        return await future

    def _take(self) -> list[tuple[Item, asyncio.Future[Outcome]]]:
        """The next batch: queued items in order, skipping (for the next batch) one whose person or
        ``setl_id`` is already in it."""
        batch: list[tuple[Item, asyncio.Future[Outcome]]] = []
        later: deque[tuple[Item, asyncio.Future[Outcome]]] = deque()
        seen: set[tuple[str, str]] = set()
        while self.pending and len(batch) < self.size:
            entry = self.pending.popleft()
            keys = batch_key(entry[0].body)
            if keys & seen:
                later.append(entry)
            else:
                batch.append(entry)
            seen |= keys
        self.pending.extendleft(reversed(later))
        return batch

    async def _drain(self) -> None:
        try:
            while self.pending:
                batch = self._take()
                try:
                    outcomes = await run_in_threadpool(settle_batch, self.db, [it for it, _ in batch])
                except Exception as exc:  # the requests answer 500; the queue goes on
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for (_, future), outcome in zip(batch, outcomes, strict=True):
                    if not future.done():
                        future.set_result(outcome)
        finally:
            self.running = None
