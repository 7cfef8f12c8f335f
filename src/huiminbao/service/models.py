"""Service cases (客服工单): a resident's complaint (投诉) or inquiry (咨询), who handles it, its replies and
its escalation.

A case has a clock of its own: its due date is a number of statutory working days after the day it was
opened (``complaint_working_days`` / ``inquiry_working_days`` in settings), kept as a column so that the
queue can sort by it and ``escalate_overdue`` can find the late ones with an index. The text is the
resident's free words, so ID numbers and mobile numbers in it are masked before it is stored; the person
it concerns is a key into ``insured_person``, never a name or an ID number.
"""

from __future__ import annotations

import enum
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from huiminbao.db.base import Base, UTCDateTime, str_enum, utcnow
from huiminbao.db.columns import PSN_NO, BigIntPK


class CaseKind(enum.StrEnum):
    COMPLAINT = "complaint"  # 投诉: something went wrong
    INQUIRY = "inquiry"  # 咨询: a question


class CaseCategory(enum.StrEnum):
    """What a case is about; supervisors count complaints by it."""

    CLAIM_TIME = "claim_time"  # 理赔时效
    CLAIM_AMOUNT = "claim_amount"  # 理赔金额
    ENROLLMENT = "enrollment"  # 投保与退保
    PAYMENT = "payment"  # 缴费与个人账户
    COVERAGE = "coverage"  # 保障范围与条款
    ATTITUDE = "attitude"  # 服务态度
    INFORMATION = "information"  # 信息咨询
    OTHER = "other"  # 其他


class CaseChannel(enum.StrEnum):
    ONLINE = "online"  # the resident, signed in
    HOTLINE = "hotline"  # 服务热线, typed in by a clerk
    COUNTER = "counter"  # 柜面
    LETTER = "letter"  # 信函
    REGULATOR = "regulator"  # 监管转办: passed on by the bureau or the insurance regulator


class CaseStatus(enum.StrEnum):
    OPEN = "open"  # waiting for an answer; the clock runs
    ANSWERED = "answered"  # answered to the resident; the clock stops (a follow-up reopens it)
    ESCALATED = "escalated"  # passed to the next level with a new due date; the clock runs
    CLOSED = "closed"


RUNNING = (CaseStatus.OPEN, CaseStatus.ESCALATED)
"""The statuses in which a case's clock runs (it can be overdue)."""


class ReplyVisibility(enum.StrEnum):
    RESIDENT = "resident"  # to (or from) the resident: they see it
    INTERNAL = "internal"  # a note among staff: the resident never sees it


class ServiceCase(Base):
    __tablename__ = "service_case"
    __table_args__ = (
        sa.Index("ix_service_case_queue", "status", "due_date", "id"),  # open cases by days left; the overdue scan
        sa.Index("ix_service_case_counts", "opened_on", "kind", "category"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    case_no: Mapped[str] = mapped_column(sa.String(32), unique=True)
    kind: Mapped[CaseKind] = mapped_column(str_enum(CaseKind))
    category: Mapped[CaseCategory] = mapped_column(str_enum(CaseCategory))
    channel: Mapped[CaseChannel] = mapped_column(str_enum(CaseChannel))
    person_id: Mapped[int | None] = mapped_column(sa.ForeignKey("insured_person.id"), index=True)
    psn_no: Mapped[str | None] = mapped_column(PSN_NO)  # None: a caller not in the roster
    claim_no: Mapped[str | None] = mapped_column(sa.String(32))  # the claim it is about, if any
    subject: Mapped[str] = mapped_column(sa.String(100))  # redacted
    text: Mapped[str] = mapped_column(sa.Text)  # redacted: ID and mobile numbers masked
    status: Mapped[CaseStatus] = mapped_column(str_enum(CaseStatus))
    opened_by: Mapped[str] = mapped_column(sa.String(64))  # username
    handler: Mapped[str | None] = mapped_column(sa.String(64), index=True)  # username
    opened_on: Mapped[date] = mapped_column(sa.Date)  # the clock's start (that day not counted)
    due_date: Mapped[date] = mapped_column(sa.Date)
    escalation_level: Mapped[int] = mapped_column(sa.Integer, default=0)
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    answered_on: Mapped[date | None] = mapped_column(sa.Date)  # the last answer to the resident
    closed_on: Mapped[date | None] = mapped_column(sa.Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    replies: Mapped[list[ServiceReply]] = relationship(back_populates="case", order_by="ServiceReply.id")


class ServiceReply(Base):
    """One message on a case: staff to the resident, the resident's follow-up, or an internal note."""

    __tablename__ = "service_reply"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("service_case.id", ondelete="CASCADE"), index=True)
    author: Mapped[str] = mapped_column(sa.String(64))  # username, or "system"
    author_role: Mapped[str] = mapped_column(sa.String(20))
    visibility: Mapped[ReplyVisibility] = mapped_column(str_enum(ReplyVisibility))
    text: Mapped[str] = mapped_column(sa.Text)  # redacted
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    case: Mapped[ServiceCase] = relationship(back_populates="replies")
