"""Lists of claims: the adjusters' queue, the SLA view, and a resident's own.

The queue is read with the index ``(state, due_date, id)`` (and ``(plan_id, state, due_date)`` when a
plan is chosen): open claims, those due soonest first. "Days left" is in working days; filtering by it
turns the number into a due-date bound once (the calendar's N-th working day from today), so the
database filters on the indexed column and never computes a calendar per row.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from huiminbao.calendar import WorkingCalendar
from huiminbao.claims import clock
from huiminbao.claims.models import Claim, ClaimItem, ClaimState
from huiminbao.claims.states import OPEN

PAGE = 50
# What a listed claim shows (its stays with their records, documents, transitions), loaded in one query
# each for the whole page instead of three per claim.
WITH_DETAILS = (
    selectinload(Claim.items).selectinload(ClaimItem.bureau_record),
    selectinload(Claim.documents),
    selectinload(Claim.transitions),
)
NEAR_DAYS = 2  # the SLA view flags claims due within this many working days


@dataclass(frozen=True)
class QueueRow:
    claim: Claim
    days_left: int | None  # working days to the due date; None while paused or once decided


def queue(
    *,
    session: Session,
    calendar: WorkingCalendar,
    today: date,
    plans: Collection[str] | None,
    plan: str | None = None,
    state: ClaimState | None = None,
    within_days: int | None = None,
    assignee: str | None = None,
    page: int = 1,
) -> tuple[list[QueueRow], int]:
    """A page of claims (open ones unless ``state`` says otherwise), soonest due first, and the count."""
    where: list[sa.ColumnElement[bool]] = [Claim.state == state] if state is not None else [Claim.state.in_(OPEN)]
    if plans is not None:
        where.append(Claim.plan_id.in_(plans))
    if plan:
        where.append(Claim.plan_id == plan)
    if assignee:
        where.append(Claim.assignee == assignee)
    if within_days is not None:
        where.append(Claim.due_date <= calendar.add_working_days(today, within_days))
    total = session.scalar(sa.select(sa.func.count()).select_from(Claim).where(*where)) or 0
    rows = session.scalars(
        sa.select(Claim)
        .options(*WITH_DETAILS)
        .where(*where)
        .order_by(Claim.due_date.is_(None), Claim.due_date, Claim.id)
        .limit(PAGE)
        .offset((max(page, 1) - 1) * PAGE)
    ).all()
    return [QueueRow(c, clock.days_left(calendar, c.due_date, today)) for c in rows], total


def sla(
    *, session: Session, calendar: WorkingCalendar, today: date, plans: Collection[str] | None
) -> dict[str, list[QueueRow]]:
    """Open claims past their due date, due within ``NEAR_DAYS`` working days, and waiting for documents
    (their clock paused: how long they have waited is shown, it does not count)."""
    where: list[sa.ColumnElement[bool]] = [Claim.state.in_(OPEN)]
    if plans is not None:
        where.append(Claim.plan_id.in_(plans))
    near = calendar.add_working_days(today, NEAR_DAYS)
    timed = session.scalars(
        sa.select(Claim).options(*WITH_DETAILS).where(*where, Claim.due_date <= near).order_by(Claim.due_date, Claim.id)
    ).all()
    paused = session.scalars(
        sa.select(Claim)
        .options(*WITH_DETAILS)
        .where(*where, Claim.state == ClaimState.DOCUMENTS_REQUESTED)
        .order_by(Claim.paused_since)
    ).all()
    rows = [QueueRow(c, clock.days_left(calendar, c.due_date, today)) for c in timed]
    return {
        "overdue": [r for r in rows if r.days_left is not None and r.days_left < 0],
        "near": [r for r in rows if r.days_left is not None and r.days_left >= 0],
        "paused": [QueueRow(c, None) for c in paused],
    }


def of_persons(*, session: Session, person_ids: Collection[int]) -> list[Claim]:
    """A resident's claims (their own and their family's), newest first."""
    return list(session.scalars(sa.select(Claim).where(Claim.person_id.in_(person_ids)).order_by(Claim.id.desc())))
