"""Insured people (the bureau's roster), roster imports, orders and policies.

Personal data is never stored in clear: the ID number as ``certno_hash`` (keyed SM3, to find a person)
and ``certno_enc`` (SM4), the name as ``name_enc`` and the mobile phone (optional: from the roster or the
payer's order) as ``phone_enc``, each with a masked form for lists. ``content_hash`` (keyed SM3 over every
roster field) tells a re-import which rows changed without decrypting anything. Each
person has an integer ``id`` that policies, and later batch work, join on instead of the 20-character
``psn_no``.

A policy is unique per person and plan (a plan is one city's year), enforced by the database, so two
purchases racing for the same person cannot both succeed; a tier upgrade changes the policy.
"""

from __future__ import annotations

import enum
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from huiminbao.db.base import Base, UTCDateTime, str_enum, utcnow
from huiminbao.db.columns import PLAN_ID, PSN_NO, BigIntPK


class InsuStatus(enum.StrEnum):
    """Basic insurance status on the bureau's roster (psn_insu_stas)."""

    INSURED = "1"
    SUSPENDED = "2"
    ENDED = "4"


class InsuredPerson(Base):
    __tablename__ = "insured_person"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    psn_no: Mapped[str] = mapped_column(PSN_NO, unique=True)
    certno_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    certno_enc: Mapped[bytes] = mapped_column(sa.LargeBinary)
    name_enc: Mapped[bytes | None] = mapped_column(sa.LargeBinary)  # None: from before names were kept
    name_masked: Mapped[str] = mapped_column(sa.String(50))
    phone_enc: Mapped[bytes | None] = mapped_column(sa.LargeBinary)  # mobile phone, SM4; None: not known
    phone_masked: Mapped[str | None] = mapped_column(sa.String(11))  # 138****1234
    gender: Mapped[str] = mapped_column(sa.String(1))  # national code: 1 male, 2 female, 9 unknown
    birth_date: Mapped[date] = mapped_column(sa.Date)
    insutype: Mapped[str] = mapped_column(sa.String(3))  # 310 employee, 390 resident
    insu_admdvs: Mapped[str] = mapped_column(sa.String(6))  # insurance area code (aggregates scan; no index)
    insu_status: Mapped[InsuStatus] = mapped_column(str_enum(InsuStatus, 1), default=InsuStatus.INSURED)
    insu_status_date: Mapped[date | None] = mapped_column(sa.Date)
    populations: Mapped[str] = mapped_column(sa.String(200), default="")  # sorted tags joined by ";"
    content_hash: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    @property
    def population_tags(self) -> tuple[str, ...]:
        return tuple(t for t in self.populations.split(";") if t)


class RosterImport(Base):
    """One import of the bureau's roster: what it did and the rejected rows (line, field, reason)."""

    __tablename__ = "roster_import"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    file_name: Mapped[str] = mapped_column(sa.String(255))
    sha256: Mapped[str] = mapped_column(sa.String(64))
    rows: Mapped[int] = mapped_column(sa.Integer)
    inserted: Mapped[int] = mapped_column(sa.Integer)
    updated: Mapped[int] = mapped_column(sa.Integer)
    unchanged: Mapped[int] = mapped_column(sa.Integer)
    rejected: Mapped[int] = mapped_column(sa.Integer)
    policies_changed: Mapped[int] = mapped_column(sa.Integer, default=0)
    report_csv: Mapped[str] = mapped_column(sa.Text)  # line,psn_no,field,reason; no ID number or name
    username: Mapped[str | None] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Channel(enum.StrEnum):
    """How an order is paid (INTERFACES.md)."""

    PERSONAL_ACCOUNT = "personal_account"
    ONLINE = "online"
    COUNTER = "counter"
    GROUP = "group"
    CHARITY = "charity"


class Relation(enum.StrEnum):
    """A member's relation to the payer (INTERFACES.md)."""

    SELF = "self"
    SPOUSE = "spouse"
    CHILD = "child"
    PARENT = "parent"
    SPOUSE_PARENT = "spouse_parent"
    SIBLING = "sibling"
    GRANDPARENT = "grandparent"
    GRANDCHILD = "grandchild"
    OTHER = "other"


class OrderStatus(enum.StrEnum):
    PENDING_PAYMENT = "pending_payment"
    PAID = "paid"
    CANCELLED = "cancelled"


class PolicyStatus(enum.StrEnum):
    PENDING_PAYMENT = "pending_payment"
    ACTIVE = "active"
    SUSPENDED = "suspended"
    ENDED = "ended"
    CANCELLED = "cancelled"
    REFUNDED = "refunded"


class PolicyOrder(Base):
    """What a payer bought in one go: one policy per member, paid (or not) together."""

    __tablename__ = "policy_order"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    order_no: Mapped[str] = mapped_column(sa.String(32), unique=True)
    plan_id: Mapped[str] = mapped_column(PLAN_ID, index=True)
    payer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("insured_person.id"))
    payer_name: Mapped[str | None] = mapped_column(sa.String(100))  # an employer or a charity fund
    channel: Mapped[Channel] = mapped_column(str_enum(Channel))
    status: Mapped[OrderStatus] = mapped_column(str_enum(OrderStatus))
    total_fen: Mapped[int] = mapped_column(sa.BigInteger)
    username: Mapped[str | None] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    # Relationships let an order, its policies and their first events go to the database in one flush.
    policies: Mapped[list[Policy]] = relationship(back_populates="order", order_by="Policy.id")


class Policy(Base):
    __tablename__ = "policy"
    __table_args__ = (sa.UniqueConstraint("plan_id", "person_id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    policy_no: Mapped[str] = mapped_column(sa.String(32), unique=True)
    order_id: Mapped[int | None] = mapped_column(sa.ForeignKey("policy_order.id"), index=True)
    plan_id: Mapped[str] = mapped_column(PLAN_ID)
    person_id: Mapped[int] = mapped_column(sa.ForeignKey("insured_person.id"), index=True)
    tier: Mapped[str] = mapped_column(sa.String(64))
    relation: Mapped[Relation] = mapped_column(str_enum(Relation))
    premium_fen: Mapped[int] = mapped_column(sa.BigInteger)
    status: Mapped[PolicyStatus] = mapped_column(str_enum(PolicyStatus))
    status_date: Mapped[date] = mapped_column(sa.Date)  # the day the status took effect
    cover_start: Mapped[date] = mapped_column(sa.Date)
    cover_end: Mapped[date] = mapped_column(sa.Date)
    verify_code: Mapped[str] = mapped_column(sa.String(16), unique=True)  # on the e-policy's QR code
    renew: Mapped[bool] = mapped_column(sa.Boolean, default=False)  # the payer consents to next year's renewal
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    order: Mapped[PolicyOrder | None] = relationship(back_populates="policies")
    person: Mapped[InsuredPerson] = relationship()


class CharityFund(Base):
    """Money a charity gave to pay premiums for people in hardship (Liaocheng 2024: 100,000 yuan). The
    balance only ever goes down by a guarded update, so concurrent allocations cannot overspend it."""

    __tablename__ = "charity_fund"
    __table_args__ = (sa.CheckConstraint("balance_fen >= 0", name="balance_not_negative"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    plan_id: Mapped[str] = mapped_column(PLAN_ID)
    donated_fen: Mapped[int] = mapped_column(sa.BigInteger)
    balance_fen: Mapped[int] = mapped_column(sa.BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PaymentStatus(enum.StrEnum):
    PAID = "paid"
    FAILED = "failed"


class Payment(Base):
    """One result from a payer's channel (the gateway's callback, a line of the bureau's personal-account
    file). ``reference`` is the channel's own transaction id, unique, so a repeated callback or a
    re-imported file changes nothing."""

    __tablename__ = "payment"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    order_id: Mapped[int] = mapped_column(sa.ForeignKey("policy_order.id"), index=True)
    channel: Mapped[Channel] = mapped_column(str_enum(Channel))
    reference: Mapped[str] = mapped_column(sa.String(64), unique=True)
    amount_fen: Mapped[int] = mapped_column(sa.BigInteger)
    status: Mapped[PaymentStatus] = mapped_column(str_enum(PaymentStatus))
    reason: Mapped[str | None] = mapped_column(sa.String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PolicyEvent(Base):
    """A policy's history: each status it took, from which day, and why."""

    __tablename__ = "policy_event"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    policy_id: Mapped[int] = mapped_column(sa.ForeignKey("policy.id", ondelete="CASCADE"), index=True)
    status: Mapped[PolicyStatus] = mapped_column(str_enum(PolicyStatus))
    effective: Mapped[date] = mapped_column(sa.Date)
    reason: Mapped[str] = mapped_column(sa.String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    policy: Mapped[Policy] = relationship()


__all__ = [
    "Channel",
    "CharityFund",
    "InsuStatus",
    "InsuredPerson",
    "OrderStatus",
    "Payment",
    "PaymentStatus",
    "Policy",
    "PolicyEvent",
    "PolicyOrder",
    "PolicyStatus",
    "Relation",
    "RosterImport",
]
