"""Queue a notification in the caller's transaction, and list the queue for operators.

``enqueue`` only adds a row to the session it is given and never commits: the message is stored if and
only if the change it announces is, and the delivery worker (``notify.worker``) sends it afterwards.
A message holds no phone number and no ID number: the worker looks the recipient's phone up when it
sends, and subject and body are redacted here as a backstop against a caller that put one in.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from huiminbao.notify.models import Outbox, OutboxStatus
from huiminbao.notify.senders import redact
from huiminbao.settings import get_settings

LIST_LIMIT = 500


def enqueue(
    *,
    session: Session,
    event: str,
    dedupe_key: str,
    psn_no: str | None,
    subject: str,
    body: str,
    channel: str | None = None,
) -> Outbox | None:
    """Add a message for ``psn_no`` in the caller's transaction; ``None`` when ``dedupe_key`` is already
    queued (the same event announced twice, e.g. a retried request). The unique constraint on the key
    stops a concurrent duplicate at commit. ``channel`` defaults to the configured sender."""
    if session.scalar(sa.select(Outbox.id).where(Outbox.dedupe_key == dedupe_key)) is not None:
        return None
    row = Outbox(
        dedupe_key=dedupe_key,
        event=event,
        psn_no=psn_no,
        channel=channel or get_settings().notify_sender,
        subject=redact(subject),
        body=redact(body),
        status=OutboxStatus.PENDING,
        attempts=0,
    )
    session.add(row)
    return row


def listing(*, session: Session, status: OutboxStatus | None = None, limit: int = 100) -> list[Outbox]:
    """The newest messages first, optionally of one status (operators looking for failures)."""
    query = sa.select(Outbox).order_by(Outbox.id.desc()).limit(min(limit, LIST_LIMIT))
    if status is not None:
        query = query.where(Outbox.status == status)
    return list(session.scalars(query))


def _stamp(t: datetime | None) -> str | None:
    return t.isoformat(timespec="seconds") if t else None


def row_out(row: Outbox) -> dict[str, object]:
    """A message as the CLI and the API show it (no phone: the row has none)."""
    stamp = _stamp
    return {
        "id": row.id,
        "event": row.event,
        "psn_no": row.psn_no,
        "channel": row.channel,
        "status": row.status.value,
        "attempts": row.attempts,
        "subject": row.subject,
        "body": row.body,
        "next_attempt_at": stamp(row.next_attempt_at),
        "sent_at": stamp(row.sent_at),
        "last_error": row.last_error,
        "created_at": stamp(row.created_at),
    }
