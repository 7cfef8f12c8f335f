"""Adjudication runs, their per-settlement outcomes, and annual accumulators.

A run is one pass of the engine over a set of settlement records (a batch, a year-end
re-adjudication, or a what-if pricing); its outcomes are unique per settlement so a
retried batch cannot pay twice. Accumulators hold what a person has used of each
deductible and limit in a plan year; the real-time path updates them atomically.
"""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from huiminbao.db.base import Base, UTCDateTime, str_enum, utcnow
from huiminbao.db.columns import PLAN_ID, PSN_NO, BigIntPK


class RunStatus(enum.StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class AdjudicationRun(Base):
    __tablename__ = "adjudication_run"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    plan_id: Mapped[str] = mapped_column(PLAN_ID, index=True)
    tier: Mapped[str] = mapped_column(sa.String(64))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    records: Mapped[int] = mapped_column(sa.Integer, default=0)
    total_payout_fen: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    status: Mapped[RunStatus] = mapped_column(str_enum(RunStatus), default=RunStatus.RUNNING)


class SettlementOutcome(Base):
    __tablename__ = "settlement_outcome"
    __table_args__ = (sa.UniqueConstraint("run_id", "setl_id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    run_id: Mapped[int] = mapped_column(sa.ForeignKey("adjudication_run.id", ondelete="CASCADE"))
    setl_id: Mapped[str] = mapped_column(sa.String(64))
    psn_no: Mapped[str] = mapped_column(PSN_NO, index=True)
    payout_fen: Mapped[int] = mapped_column(sa.BigInteger)
    is_reversal: Mapped[bool] = mapped_column(sa.Boolean, default=False)


class Accumulator(Base):
    __tablename__ = "accumulator"
    __table_args__ = (sa.UniqueConstraint("psn_no", "plan_id", "year", "key"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    psn_no: Mapped[str] = mapped_column(PSN_NO)
    plan_id: Mapped[str] = mapped_column(PLAN_ID)
    year: Mapped[int] = mapped_column(sa.Integer)
    key: Mapped[str] = mapped_column(sa.String(64))  # a deductible or liability id, or "overall"
    value: Mapped[int] = mapped_column(sa.BigInteger, default=0)  # fen
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
