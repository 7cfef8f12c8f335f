"""Adjudication runs, their per-settlement outcomes, and annual accumulators.

A run is one pass of the engine over a set of settlement records (a batch, a year-end
re-adjudication, or a what-if pricing); its outcomes are unique per settlement so a
retried batch cannot pay twice. Accumulators hold what a person has used of each
deductible and limit in a plan year; the real-time path updates them atomically.
"""

from __future__ import annotations

import enum
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

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


class SettlementKind(enum.StrEnum):
    PAYMENT = "payment"
    REFUND = "refund"  # the national refund record: refd_setl_flag 1, init_setl_id, amounts negated


class SettlementSource(enum.StrEnum):
    API = "api"  # one-stop, sent by the hospital's settlement system at discharge
    FILE = "file"  # the bureau's daily file, or a hospital not yet connected (``hmb settle --file``)
    CLAIM = "claim"  # a stay paid on an approved claim (理赔), from the bureau's record


class Settlement(Base):
    """A settlement the platform has paid on: the record as sent (canonical JSON, for year-end
    re-adjudication), its payout, and the exact answer given, so a resend is answered byte for byte."""

    __tablename__ = "settlement"
    __table_args__ = (
        sa.Index("ix_settlement_setl_time", "setl_time"),  # the day's volume
        sa.Index("ix_settlement_hospital_time", "hospital_code", "setl_time"),  # a hospital's list
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    setl_id: Mapped[str] = mapped_column(sa.String(64), unique=True)
    hospital_code: Mapped[str] = mapped_column(sa.String(30), index=True)
    person_id: Mapped[int] = mapped_column(sa.ForeignKey("insured_person.id"), index=True)
    plan_id: Mapped[str] = mapped_column(PLAN_ID, index=True)
    policy_id: Mapped[int] = mapped_column(sa.ForeignKey("policy.id"), index=True)
    tier: Mapped[str] = mapped_column(sa.String(64))
    kind: Mapped[SettlementKind] = mapped_column(str_enum(SettlementKind))
    source: Mapped[SettlementSource] = mapped_column(str_enum(SettlementSource))
    setl_time: Mapped[datetime] = mapped_column(sa.DateTime())  # Beijing time, as the national platform writes it
    begndate: Mapped[date] = mapped_column(sa.Date)
    init_setl_id: Mapped[str | None] = mapped_column(sa.String(64))  # a refund's original
    refunded_by: Mapped[str | None] = mapped_column(sa.String(64), unique=True)  # the refund of this one, once
    status: Mapped[str] = mapped_column(sa.String(20))  # the engine's status: covered, waiting, ...
    payout_fen: Mapped[int] = mapped_column(sa.BigInteger)
    body_sha256: Mapped[str] = mapped_column(sa.String(64))
    record: Mapped[str] = mapped_column(sa.Text)
    response: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    lines: Mapped[list[SettlementLine]] = relationship(back_populates="settlement", order_by="SettlementLine.id")


class SettlementLine(Base):
    """One liability's outcome of a settlement, in the engine's units (``counted`` and
    ``deductible_used`` in fen x 10^4, ``entitled`` exact in fen x 10^8, ``ratio`` in bp): a refund
    is adjudicated against exactly these."""

    __tablename__ = "settlement_line"
    __table_args__ = (sa.UniqueConstraint("settlement_id", "liability"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    settlement_id: Mapped[int] = mapped_column(sa.ForeignKey("settlement.id", ondelete="CASCADE"))
    liability: Mapped[str] = mapped_column(sa.String(64))
    base: Mapped[int] = mapped_column(sa.BigInteger)
    counted: Mapped[int] = mapped_column(sa.BigInteger)
    deductible_used: Mapped[int] = mapped_column(sa.BigInteger)
    ratio: Mapped[int] = mapped_column(sa.BigInteger)
    entitled: Mapped[int] = mapped_column(sa.BigInteger)
    payout: Mapped[int] = mapped_column(sa.BigInteger)
    reason: Mapped[str | None] = mapped_column(sa.Text)

    settlement: Mapped[Settlement] = relationship(back_populates="lines")


class Adjustment(Base):
    """A year-end correction of one person's payout under one liability: what the batch engine pays over
    the plan-year's settlements in ``setl_time`` order, less what was paid in real time (arrival order)
    and by earlier adjustments. Positive: a top-up to the person; negative: a recovery."""

    __tablename__ = "adjustment"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    plan_id: Mapped[str] = mapped_column(PLAN_ID, index=True)
    person_id: Mapped[int] = mapped_column(sa.ForeignKey("insured_person.id"), index=True)
    liability: Mapped[str] = mapped_column(sa.String(64))
    amount_fen: Mapped[int] = mapped_column(sa.BigInteger)
    paid_fen: Mapped[int] = mapped_column(sa.BigInteger)  # what had been paid before this adjustment
    due_fen: Mapped[int] = mapped_column(sa.BigInteger)  # what the batch engine pays
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
