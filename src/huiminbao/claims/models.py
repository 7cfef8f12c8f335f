"""Claims filed after care (理赔申请): the bureau's records they draw on, the claim, its stays, its documents
and every change of state.

Not every stay is settled at the hospital (care out of the province, special drugs at a pharmacy, a
hospital not connected): the bureau's settlement records of insured persons are kept in
``bureau_record`` as the national platform wrote them, and a claim picks some of them; nothing is typed
again. A stay is claimed once: ``claim_item`` holds its ``setl_id`` with a unique index over the items
still standing (``active``), so two claims filed at the same moment cannot both take it, and a rejected
item frees it. An approved item is paid through one-stop settlement's own path, so its ``settlement`` row,
lines and accumulators are exactly what the hospital's sending it would have made.

States are an enum and the allowed changes a table (``states.py``); ``claim_transition`` records each
change with who made it and why. The due date is a column so that the adjusters' queue can sort and
filter by it with an index; it is null while the clock is paused for documents.
"""

from __future__ import annotations

import enum
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from huiminbao.db.base import Base, UTCDateTime, str_enum, utcnow
from huiminbao.db.columns import PLAN_ID, PSN_NO, BigIntPK


class BureauRecord(Base):
    """One settlement record as the bureau's data has it (setlinfo, feedetl, diseases as canonical JSON),
    with the fields a resident picks a stay by."""

    __tablename__ = "bureau_record"
    __table_args__ = (sa.Index("ix_bureau_record_person_time", "person_id", "setl_time"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    setl_id: Mapped[str] = mapped_column(sa.String(64), unique=True)
    person_id: Mapped[int] = mapped_column(sa.ForeignKey("insured_person.id"))
    hospital_code: Mapped[str] = mapped_column(sa.String(30))  # fixmedins_code: a hospital or a pharmacy
    med_type: Mapped[str] = mapped_column(sa.String(10))
    begndate: Mapped[date] = mapped_column(sa.Date)
    enddate: Mapped[date | None] = mapped_column(sa.Date)
    setl_time: Mapped[datetime] = mapped_column(sa.DateTime())  # Beijing time, as the national platform writes it
    medfee_sumamt_fen: Mapped[int] = mapped_column(sa.BigInteger)
    psn_part_amt_fen: Mapped[int] = mapped_column(sa.BigInteger)
    out_of_area: Mapped[bool] = mapped_column(sa.Boolean)  # care outside the insured person's area
    record: Mapped[str] = mapped_column(sa.Text)  # {setlinfo, feedetl, diseases}, canonical JSON
    body_sha256: Mapped[str] = mapped_column(sa.String(64))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ClaimState(enum.StrEnum):
    SUBMITTED = "submitted"
    DOCUMENTS_REQUESTED = "documents_requested"  # the clock is paused
    IN_REVIEW = "in_review"
    APPROVED = "approved"
    PARTLY_APPROVED = "partly_approved"
    REJECTED = "rejected"
    PAYMENT_INSTRUCTED = "payment_instructed"
    PAID = "paid"
    WITHDRAWN = "withdrawn"


class ClaimChannel(enum.StrEnum):
    ONLINE = "online"  # the resident, on a phone or computer
    COUNTER = "counter"  # a clerk at the service counter


class ItemDecision(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class RejectReason(enum.StrEnum):
    """Why a stay or a whole claim is not paid; each has its Chinese wording in ``states.REASON_TEXT``."""

    NOT_COVERED = "not_covered"
    OUTSIDE_COVER = "outside_cover"
    NOT_FILED = "not_filed"
    PREEXISTING = "preexisting"
    DOCUMENTS_INCOMPLETE = "documents_incomplete"
    DOCUMENTS_INVALID = "documents_invalid"
    DUPLICATE = "duplicate"
    OTHER = "other"


class DocumentKind(enum.StrEnum):
    INVOICE = "invoice"
    FEE_LIST = "fee_list"
    DISCHARGE_SUMMARY = "discharge_summary"
    PRESCRIPTION = "prescription"
    FILING_PROOF = "filing_proof"
    PHARMACY_RECEIPT = "pharmacy_receipt"
    OTHER = "other"


class Claim(Base):
    __tablename__ = "claim"
    __table_args__ = (
        sa.Index("ix_claim_queue", "state", "due_date", "id"),  # the queue: open states by days left
        sa.Index("ix_claim_plan_state", "plan_id", "state", "due_date"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    claim_no: Mapped[str | None] = mapped_column(sa.String(32), unique=True)
    person_id: Mapped[int] = mapped_column(sa.ForeignKey("insured_person.id"), index=True)
    psn_no: Mapped[str] = mapped_column(PSN_NO)
    plan_id: Mapped[str] = mapped_column(PLAN_ID)
    policy_id: Mapped[int] = mapped_column(sa.ForeignKey("policy.id"))
    channel: Mapped[ClaimChannel] = mapped_column(str_enum(ClaimChannel))
    filed_by: Mapped[str] = mapped_column(sa.String(64))  # username
    filed_by_psn_no: Mapped[str | None] = mapped_column(PSN_NO)  # the resident who filed (self or family)
    state: Mapped[ClaimState] = mapped_column(str_enum(ClaimState, 24))
    submitted_on: Mapped[date] = mapped_column(sa.Date)  # the clock's start (that day not counted)
    paused_since: Mapped[date | None] = mapped_column(sa.Date)  # waiting for documents since
    due_date: Mapped[date | None] = mapped_column(sa.Date)  # null while paused or once decided
    requested: Mapped[str | None] = mapped_column(sa.Text)  # what documents were asked for
    assignee: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    locked_by: Mapped[str | None] = mapped_column(sa.String(64))
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reason_code: Mapped[RejectReason | None] = mapped_column(str_enum(RejectReason, 24))
    reason: Mapped[str | None] = mapped_column(sa.Text)
    claimed_fen: Mapped[int] = mapped_column(sa.BigInteger)  # the stays' personal share, as filed
    payout_fen: Mapped[int | None] = mapped_column(sa.BigInteger)
    decided_on: Mapped[date | None] = mapped_column(sa.Date)
    paid_on: Mapped[date | None] = mapped_column(sa.Date)
    payment_ref: Mapped[str | None] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(sa.Integer)

    items: Mapped[list[ClaimItem]] = relationship(back_populates="claim", order_by="ClaimItem.id")
    documents: Mapped[list[ClaimDocument]] = relationship(back_populates="claim", order_by="ClaimDocument.id")
    transitions: Mapped[list[ClaimTransition]] = relationship(back_populates="claim", order_by="ClaimTransition.id")

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012  two decisions on one claim: the second fails


class ClaimItem(Base):
    """One stay of a claim: the bureau's record, the adjuster's decision, and the settlement that paid it."""

    __tablename__ = "claim_item"
    __table_args__ = (
        sa.Index(
            "uq_claim_item_active_setl_id",
            "setl_id",
            unique=True,
            sqlite_where=sa.text("active"),
            postgresql_where=sa.text("active"),
        ),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    claim_id: Mapped[int] = mapped_column(sa.ForeignKey("claim.id", ondelete="CASCADE"), index=True)
    bureau_record_id: Mapped[int] = mapped_column(sa.ForeignKey("bureau_record.id"))
    setl_id: Mapped[str] = mapped_column(sa.String(64), index=True)
    active: Mapped[bool] = mapped_column(sa.Boolean, default=True)  # holds the stay against other claims
    decision: Mapped[ItemDecision] = mapped_column(str_enum(ItemDecision), default=ItemDecision.PENDING)
    reason_code: Mapped[RejectReason | None] = mapped_column(str_enum(RejectReason, 24))
    note: Mapped[str | None] = mapped_column(sa.Text)
    filing_confirmed: Mapped[bool] = mapped_column(sa.Boolean, default=False)  # proof of 异地就医备案 seen
    settlement_id: Mapped[int | None] = mapped_column(sa.ForeignKey("settlement.id"))
    payout_fen: Mapped[int | None] = mapped_column(sa.BigInteger)

    claim: Mapped[Claim] = relationship(back_populates="items")
    bureau_record: Mapped[BureauRecord] = relationship()


class ClaimDocument(Base):
    """A document of a claim; the file itself lives outside the database, named by its SHA-256."""

    __tablename__ = "claim_document"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    claim_id: Mapped[int] = mapped_column(sa.ForeignKey("claim.id", ondelete="CASCADE"), index=True)
    kind: Mapped[DocumentKind] = mapped_column(str_enum(DocumentKind, 24))
    sha256: Mapped[str] = mapped_column(sa.String(64), index=True)
    media_type: Mapped[str] = mapped_column(sa.String(40))
    size: Mapped[int] = mapped_column(sa.Integer)
    filename: Mapped[str] = mapped_column(sa.String(200))  # as uploaded, for display only
    uploaded_by: Mapped[str] = mapped_column(sa.String(64))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    claim: Mapped[Claim] = relationship(back_populates="documents")


class ClaimTransition(Base):
    __tablename__ = "claim_transition"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    claim_id: Mapped[int] = mapped_column(sa.ForeignKey("claim.id", ondelete="CASCADE"), index=True)
    from_state: Mapped[ClaimState | None] = mapped_column(str_enum(ClaimState, 24))
    to_state: Mapped[ClaimState] = mapped_column(str_enum(ClaimState, 24))
    on: Mapped[date] = mapped_column(sa.Date)  # the platform's date (HMB_TODAY in demos): the clock's unit
    actor: Mapped[str] = mapped_column(sa.String(64))
    role: Mapped[str] = mapped_column(sa.String(20))
    reason: Mapped[str | None] = mapped_column(sa.Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    claim: Mapped[Claim] = relationship(back_populates="transitions")
