"""Queue a notification in the caller's transaction (the outbox); the delivery worker sends it later."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from huiminbao.notify.models import Outbox


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
    """Add the message unless one with ``dedupe_key`` is queued already; never commits."""
    if session.scalars(sa.select(Outbox.id).where(Outbox.dedupe_key == dedupe_key)).first() is not None:
        return None
    row = Outbox(
        dedupe_key=dedupe_key, event=event, psn_no=psn_no, channel=channel or "log", subject=subject, body=body
    )
    session.add(row)
    return row
