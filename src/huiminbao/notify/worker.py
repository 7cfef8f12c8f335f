"""The delivery worker: send what the outbox holds that is due, record each outcome, retry with backoff.

One round (``deliver_due``) has three steps, each its own short transaction, so no transaction stays
open while a gateway is called:

1. Claim: one UPDATE moves due rows (PENDING whose ``next_attempt_at`` has come, or SENDING whose
   ``lease_until`` has passed: a worker that died holding them) to SENDING with a fresh lease, and
   commits. On PostgreSQL the rows are picked by ``SELECT ... FOR UPDATE SKIP LOCKED``, so two workers
   never take the same row and neither waits for the other; SQLite has one writer at a time, so the
   UPDATE itself is the lock.
2. Send each claimed message through its channel's sender.
3. Mark each on its own: SENT with ``sent_at``; or, after a transient failure, PENDING again at
   ``next_attempt_at`` = now + exponential backoff with jitter; or FAILED after a permanent failure or
   the last allowed attempt. A mark applies only while the worker's lease is the row's lease (the
   lease's end time is its token), so a worker that overran its lease cannot overwrite the outcome of
   the worker that took the row over.

A row marked SENT is never claimed again. Delivery is at least once with idempotency: a worker that dies
(or overruns its lease) after the channel accepted a message and before marking it lets another worker
send it again once the lease has expired, with the same idempotency key (the message id); the gateways
and ``LogSender`` drop that repeat, so the recipient gets one message.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import sqlalchemy as sa
import structlog

from huiminbao.db.base import utcnow
from huiminbao.db.session import Database
from huiminbao.enrollment.models import InsuredPerson
from huiminbao.identity.pii import PiiError, decrypt_text
from huiminbao.notify.models import Outbox, OutboxStatus
from huiminbao.notify.senders import (
    Message,
    PermanentSendError,
    Sender,
    TransientSendError,
    UnknownChannel,
    redact,
)
from huiminbao.settings import Settings, get_settings

log = structlog.get_logger(__name__)
ERROR_CHARS = 500  # of a failure's text kept in last_error


@dataclass
class Report:
    """What one round (or several) did, by message id."""

    sent: list[int] = field(default_factory=list)
    retried: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    lost: list[int] = field(default_factory=list)  # lease taken over by another worker before marking

    @property
    def claimed(self) -> int:
        return len(self.sent) + len(self.retried) + len(self.failed) + len(self.lost)

    def add(self, other: Report) -> None:
        for name in ("sent", "retried", "failed", "lost"):
            getattr(self, name).extend(getattr(other, name))

    def as_dict(self) -> dict[str, list[int]]:
        return {"sent": self.sent, "retried": self.retried, "failed": self.failed, "lost": self.lost}


def backoff(attempts: int, base: float, cap: float, rand: Callable[[], float] = random.random) -> timedelta:
    """Wait after the ``attempts``-th failed attempt: base, 2 base, 4 base ... up to ``cap``, each drawn
    from its upper half at random so that messages that failed together do not retry together."""
    ceiling = min(cap, base * 2 ** (attempts - 1))
    return timedelta(seconds=ceiling * (0.5 + 0.5 * rand()))


def _claim(db: Database, now: datetime, batch: int, settings: Settings) -> tuple[datetime, list[tuple[Message, int]]]:
    """Lease up to ``batch`` due rows to this worker and commit; the messages to send with the attempts
    made so far."""
    lease = now + timedelta(seconds=settings.notify_lease_seconds)
    due = (
        sa.select(Outbox.id)
        .where(
            sa.or_(
                sa.and_(Outbox.status == OutboxStatus.PENDING, Outbox.next_attempt_at <= now),
                sa.and_(Outbox.status == OutboxStatus.SENDING, Outbox.lease_until <= now),
            )
        )
        .order_by(Outbox.next_attempt_at, Outbox.id)
        .limit(batch)
        .with_for_update(skip_locked=True)  # PostgreSQL; SQLite renders nothing and has one writer
    )
    with db.session() as s:
        ids = s.scalars(
            sa.update(Outbox)
            .where(Outbox.id.in_(due.scalar_subquery()))
            .values(status=OutboxStatus.SENDING, lease_until=lease)
            .returning(Outbox.id)
        ).all()
        if not ids:
            return lease, []
        rows = s.scalars(sa.select(Outbox).where(Outbox.id.in_(ids)).order_by(Outbox.id)).all()
        return lease, [(Message(r.id, r.event, r.channel, r.psn_no, r.subject, r.body), r.attempts) for r in rows]


def _sender(sender_for: Callable[[str], Sender], channel: str) -> Sender:
    """The channel's sender; a channel nobody offers is a permanent failure, one not configured (no
    gateway URL) a transient one, so messages wait for the operator to fix the settings."""
    try:
        return sender_for(channel)
    except UnknownChannel:
        raise PermanentSendError(f"no sender for channel {channel!r}") from None
    except ValueError as exc:
        raise TransientSendError(f"channel {channel!r} not configured: {exc}") from None


def _phones(db: Database, psn_nos: set[str], keys: tuple[bytes, ...]) -> dict[str, str]:
    """The recipients' mobile phones in clear, for this round only (never stored, never logged)."""
    if not psn_nos:
        return {}
    with db.session() as s:
        found = s.execute(
            sa.select(InsuredPerson.psn_no, InsuredPerson.phone_enc).where(
                InsuredPerson.psn_no.in_(psn_nos), InsuredPerson.phone_enc.is_not(None)
            )
        ).all()
    out = {}
    for psn_no, blob in found:
        try:
            out[psn_no] = decrypt_text(blob, keys)
        except PiiError:
            log.warning("notify.phone_unreadable", psn_no=psn_no)
    return out


def _mark(db: Database, msg_id: int, lease: datetime, **values: object) -> bool:
    """Record an outcome if this worker still holds the row; false when another took it over."""
    with db.session() as s:
        done = s.execute(
            sa.update(Outbox)
            .where(Outbox.id == msg_id, Outbox.status == OutboxStatus.SENDING, Outbox.lease_until == lease)
            .values(lease_until=None, attempts=Outbox.attempts + 1, **values)
            .returning(Outbox.attempts)
        ).first()
    return done is not None


def deliver_due(
    db: Database,
    sender_for: Callable[[str], Sender],
    now: datetime,
    batch: int = 100,
    *,
    settings: Settings | None = None,
    rand: Callable[[], float] = random.random,
) -> Report:
    """One round: claim up to ``batch`` due messages, send each, record each outcome (see the module)."""
    settings = settings or get_settings()
    lease, claimed = _claim(db, now, batch, settings)
    report = Report()
    needing = set()
    for m, _ in claimed:
        try:
            if m.psn_no and _sender(sender_for, m.channel).needs_phone:
                needing.add(m.psn_no)
        except (TransientSendError, PermanentSendError):
            pass  # that message's failure, recorded below
    phones = _phones(db, needing, settings.pii_keys)
    for m, attempts in claimed:
        error: str | None = None
        permanent = False
        try:
            _sender(sender_for, m.channel).send(replace(m, phone=phones.get(m.psn_no or "")))
        except TransientSendError as exc:
            error = str(exc)
        except PermanentSendError as exc:
            error, permanent = str(exc), True
        except Exception as exc:  # a sender's bug must not stop the round; try again later
            error = type(exc).__name__  # only the type: a traceback's locals would hold the phone number
            log.error("notify.sender_crashed", message_id=m.id, channel=m.channel, error=error)
        if error is None:
            outcome, values = report.sent, {"status": OutboxStatus.SENT, "sent_at": now, "last_error": None}
        else:
            error = redact(error)[:ERROR_CHARS]
            if permanent or attempts + 1 >= settings.notify_max_attempts:
                outcome, values = report.failed, {"status": OutboxStatus.FAILED, "last_error": error}
            else:
                wait = backoff(attempts + 1, settings.notify_backoff_seconds, settings.notify_backoff_max_seconds, rand)
                outcome = report.retried
                values = {"status": OutboxStatus.PENDING, "next_attempt_at": now + wait, "last_error": error}
            log.warning("notify.attempt_failed", message_id=m.id, channel=m.channel, attempts=attempts + 1, error=error)
        (outcome if _mark(db, m.id, lease, **values) else report.lost).append(m.id)
    return report


def run(
    db: Database,
    stop_event: threading.Event,
    interval: float,
    *,
    sender_for: Callable[[str], Sender],
    settings: Settings | None = None,
    batch: int = 100,
    on_round: Callable[[Report], None] | None = None,
) -> Report:
    """Deliver rounds until ``stop_event`` is set: at once again after a full batch (more may be due),
    else after ``interval`` seconds; a round the database could not serve is tried again after the
    interval. Returns what all rounds did."""
    total = Report()
    while not stop_event.is_set():
        try:
            report = deliver_due(db, sender_for, utcnow(), batch, settings=settings)
        except sa.exc.OperationalError:  # the database is away or busy: leases keep the rows safe meanwhile
            log.warning("notify.round_failed", exc_info=False)
            stop_event.wait(interval)
            continue
        total.add(report)
        if on_round is not None and report.claimed:
            on_round(report)
        if report.claimed < batch:
            stop_event.wait(interval)
    return total
