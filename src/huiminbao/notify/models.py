"""The notifications outbox: a message is written in the same transaction as the change it announces,
so a change that rolls back announces nothing and one that commits is never left unannounced. A delivery
worker sends what is due and records the outcome; ``dedupe_key`` is unique, so the same event cannot be
queued twice, and a message marked sent is never picked again.
"""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from huiminbao.db.base import Base, UTCDateTime, str_enum, utcnow
from huiminbao.db.columns import PSN_NO, BigIntPK


class OutboxStatus(enum.StrEnum):
    PENDING = "pending"  # to send, at ``next_attempt_at``
    SENDING = "sending"  # a worker holds it until ``lease_until``
    SENT = "sent"
    FAILED = "failed"  # gave up after the last attempt


class Outbox(Base):
    __tablename__ = "outbox"
    __table_args__ = (sa.Index("ix_outbox_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(sa.String(120), unique=True)
    event: Mapped[str] = mapped_column(sa.String(64))  # e.g. claim.documents_requested
    psn_no: Mapped[str | None] = mapped_column(PSN_NO, index=True)  # whom it is for
    channel: Mapped[str] = mapped_column(sa.String(20))  # sms, wechat, log
    subject: Mapped[str] = mapped_column(sa.String(200))
    body: Mapped[str] = mapped_column(sa.Text)
    status: Mapped[OutboxStatus] = mapped_column(str_enum(OutboxStatus), default=OutboxStatus.PENDING)
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
