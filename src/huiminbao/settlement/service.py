"""Reading what the settlement domain has paid. Functions take a keyword-only session and never commit."""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased

from huiminbao.enrollment.models import InsuredPerson, Policy, PolicyOrder
from huiminbao.identity.models import AuditEntry, Hospital
from huiminbao.money import to_fen
from huiminbao.settlement.eob import Eob, explain_settlement
from huiminbao.settlement.models import (
    AdjudicationRun,
    Adjustment,
    Settlement,
    SettlementKind,
    SettlementOutcome,
)

PAGE_SIZE = 50


def paid_to(*, session: Session, plan_id: str, psn_no: str) -> int:
    """Fen paid to this person under the plan: one-stop and file settlements (refunds netted) and the
    plan's latest batch adjudication run."""
    latest = sa.select(sa.func.max(AdjudicationRun.id)).where(AdjudicationRun.plan_id == plan_id).scalar_subquery()
    batch = session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(SettlementOutcome.payout_fen), 0)).where(
            SettlementOutcome.run_id == latest, SettlementOutcome.psn_no == psn_no
        )
    )
    settled = session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(Settlement.payout_fen), 0))
        .join(InsuredPerson, InsuredPerson.id == Settlement.person_id)
        .where(Settlement.plan_id == plan_id, InsuredPerson.psn_no == psn_no)
    )
    return int(batch or 0) + int(settled or 0)


@dataclass(frozen=True)
class SettlementRow:
    """One settlement as a list shows it: no ID number, the person by their person number."""

    setl_id: str
    hospital_code: str
    psn_no: str
    kind: SettlementKind
    setl_time: datetime
    init_setl_id: str | None  # a refund's original
    refunded_by: str | None  # the refund of an original
    payout_fen: int
    status: str
    reason: str | None  # why the settlement as a whole paid nothing, from the answer given


@dataclass(frozen=True)
class SettlementPage:
    rows: list[SettlementRow]
    total: int
    page: int
    pages: int


def list_settlements(
    *,
    session: Session,
    hospital_code: str | None = None,
    kind: SettlementKind | None = None,
    since: date | None = None,
    until: date | None = None,
    page: int = 1,
    size: int = PAGE_SIZE,
) -> SettlementPage:
    """Settlements newest first (by ``setl_time``, Beijing time), filtered by hospital, kind and an
    inclusive range of settlement dates; one page of ``size`` rows (a page past the end gives the last)."""
    where = []
    if hospital_code is not None:
        where.append(Settlement.hospital_code == hospital_code)
    if kind is not None:
        where.append(Settlement.kind == kind)
    if since is not None:
        where.append(Settlement.setl_time >= datetime.combine(since, time()))
    if until is not None:
        where.append(Settlement.setl_time < datetime.combine(until + timedelta(days=1), time()))
    total = session.scalar(sa.select(sa.func.count()).select_from(Settlement).where(*where)) or 0
    pages = max(1, -(-total // size))
    page = min(max(page, 1), pages)
    found = session.execute(
        sa.select(Settlement, InsuredPerson.psn_no)
        .join(InsuredPerson, InsuredPerson.id == Settlement.person_id)
        .where(*where)
        .order_by(Settlement.setl_time.desc(), Settlement.id.desc())
        .offset((page - 1) * size)
        .limit(size)
    ).all()
    return SettlementPage([_row(s, psn_no) for s, psn_no in found], total, page, pages)


def _residents(psn_no: str) -> sa.Select[tuple[Settlement, str]]:
    """Settlements of the person ``psn_no`` and of those whose policies they paid for (their family's, as
    ``enrollment.policies.resident_may_see`` decides for a policy), with each one's person number."""
    payer = aliased(InsuredPerson)
    return (
        sa.select(Settlement, InsuredPerson.psn_no)
        .join(InsuredPerson, InsuredPerson.id == Settlement.person_id)
        .join(Policy, Policy.id == Settlement.policy_id)
        .outerjoin(PolicyOrder, PolicyOrder.id == Policy.order_id)
        .outerjoin(payer, payer.id == PolicyOrder.payer_id)
        .where(sa.or_(InsuredPerson.psn_no == psn_no, payer.psn_no == psn_no))
    )


def resident_settlements(*, session: Session, psn_no: str) -> list[SettlementRow]:
    """A resident's own and their family's settlements, newest first (a person has a few a year)."""
    found = session.execute(_residents(psn_no).order_by(Settlement.setl_time.desc(), Settlement.id.desc())).all()
    return [_row(s, p) for s, p in found]


def resident_may_see(*, session: Session, settlement: Settlement, psn_no: str | None) -> bool:
    """Whether the resident ``psn_no`` may read this settlement: theirs, or a family member's they paid for."""
    if psn_no is None:
        return False
    return session.execute(_residents(psn_no).where(Settlement.id == settlement.id)).first() is not None


def eob_of(*, session: Session, settlement: Settlement) -> Eob:
    """The settlement's explanation of benefit with its hospital's name and the person's masked name."""
    hospital = session.get(Hospital, settlement.hospital_code)
    person = session.get(InsuredPerson, settlement.person_id)
    return explain_settlement(
        settlement,
        hospital_name=hospital.name if hospital is not None else None,
        person_name=person.name_masked if person is not None else None,
    )


def _row(s: Settlement, psn_no: str) -> SettlementRow:
    return SettlementRow(
        setl_id=s.setl_id, hospital_code=s.hospital_code, psn_no=psn_no, kind=s.kind, setl_time=s.setl_time,
        init_setl_id=s.init_setl_id, refunded_by=s.refunded_by, payout_fen=s.payout_fen, status=s.status,
        reason=json.loads(s.response).get("reason"),
    )  # fmt: skip


@dataclass(frozen=True)
class HospitalDay:
    """One hospital's settlements of one day: how many, what was paid and what refunds took back."""

    code: str
    name: str | None  # None: a code not registered as a hospital (a file settlement, say)
    payments: int
    refunds: int
    paid_fen: int
    returned_fen: int  # positive: what the refunds took back

    @property
    def net_fen(self) -> int:
        return self.paid_fen - self.returned_fen


def day_volume(*, session: Session, day: date, plan_ids: Collection[str] | None = None) -> list[HospitalDay]:
    """Per hospital, its settlements and refunds whose ``setl_time`` falls on ``day`` (Beijing time),
    by hospital code; only those of ``plan_ids`` when given (what ``access.scope`` lets the reader see)."""
    start = datetime.combine(day, time())
    refund = Settlement.kind == SettlementKind.REFUND
    where = [Settlement.setl_time >= start, Settlement.setl_time < start + timedelta(days=1)]
    if plan_ids is not None:
        where.append(Settlement.plan_id.in_(sorted(plan_ids)))

    def summed(value: sa.ColumnElement[int] | int, when: sa.ColumnElement[bool]) -> sa.ColumnElement[int]:
        return sa.func.coalesce(sa.func.sum(sa.case((when, value), else_=0)), 0)

    found = session.execute(
        sa.select(
            Settlement.hospital_code,
            Hospital.name,
            summed(1, ~refund),
            summed(1, refund),
            summed(Settlement.payout_fen, ~refund),
            summed(-Settlement.payout_fen, refund),
        )
        .outerjoin(Hospital, Hospital.code == Settlement.hospital_code)
        .where(*where)
        .group_by(Settlement.hospital_code, Hospital.name)
        .order_by(Settlement.hospital_code)
    ).all()
    return [HospitalDay(code, name, int(p), int(r), int(paid), int(back)) for code, name, p, r, paid, back in found]


def day_total(days: list[HospitalDay]) -> HospitalDay:
    """The day's total over all hospitals, as one more row."""
    return HospitalDay(
        "", None, sum(d.payments for d in days), sum(d.refunds for d in days),
        sum(d.paid_fen for d in days), sum(d.returned_fen for d in days),
    )  # fmt: skip


@dataclass(frozen=True)
class AdjustmentRow:
    psn_no: str
    liability: str
    paid_fen: int
    due_fen: int
    amount_fen: int  # positive: a top-up; negative: a recovery
    created_at: datetime


def list_adjustments(*, session: Session, plan_id: str) -> list[AdjustmentRow]:
    """The plan's year-end adjustments, newest run's first."""
    found = session.execute(
        sa.select(Adjustment, InsuredPerson.psn_no)
        .join(InsuredPerson, InsuredPerson.id == Adjustment.person_id)
        .where(Adjustment.plan_id == plan_id)
        .order_by(Adjustment.id.desc())
    ).all()
    return [AdjustmentRow(psn, a.liability, a.paid_fen, a.due_fen, a.amount_fen, a.created_at) for a, psn in found]


@dataclass(frozen=True)
class YearEndRun:
    """A year-end run as its audit entry recorded it: when, by whom, and its summary in fen."""

    at: datetime
    actor: str
    settlements: int
    persons: int
    paid_fen: int
    due_fen: int
    adjustments: int
    top_up_fen: int
    recovery_fen: int


def last_year_end(*, session: Session, plan_id: str) -> YearEndRun | None:
    """The plan's latest year-end run that found settlements (a run over none records nothing)."""
    entry = session.scalars(
        sa.select(AuditEntry)
        .where(AuditEntry.action == "settlement.year_end", AuditEntry.entity == "plan", AuditEntry.entity_id == plan_id)
        .order_by(AuditEntry.id.desc())
        .limit(1)
    ).first()
    if entry is None or entry.after is None:
        return None
    s = json.loads(entry.after)
    return YearEndRun(
        at=entry.at, actor=entry.actor, settlements=s["settlements"], persons=s["persons"],
        paid_fen=to_fen(s["paid"]), due_fen=to_fen(s["due"]), adjustments=s["adjustments"],
        top_up_fen=to_fen(s["top_up"]), recovery_fen=to_fen(s["recovery"]),
    )  # fmt: skip


__all__ = [
    "PAGE_SIZE",
    "AdjustmentRow",
    "HospitalDay",
    "SettlementPage",
    "SettlementRow",
    "YearEndRun",
    "day_total",
    "day_volume",
    "eob_of",
    "last_year_end",
    "list_adjustments",
    "list_settlements",
    "paid_to",
    "resident_may_see",
    "resident_settlements",
]
