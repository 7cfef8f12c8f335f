"""The claim's clock: paid within N statutory working days of complete documents, waiting time excluded.

The clock starts the day the claim is submitted with its documents (that day not counted). While the
adjuster waits for documents it asked for, the clock is paused: from the day of the request to the day
the documents are supplied, as the working-day calendar's pauses count them. The number of days is the
plan's ``claim_days`` (the scheme's promise, from its source text), or ``HMB_CLAIM_DAYS`` for a plan
whose sources do not say it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from huiminbao.calendar import WorkingCalendar
from huiminbao.calendar.workdays import Pause
from huiminbao.claims.models import Claim, ClaimState, ClaimTransition
from huiminbao.plans import load_plan
from huiminbao.settings import get_settings


def claim_days(plan_id: str) -> int:
    """Working days the plan promises for an offline claim (the platform's default when it is silent)."""
    return load_plan(plan_id).claim_days or get_settings().claim_days


def pauses(transitions: Sequence[ClaimTransition]) -> list[Pause]:
    """The finished waits for documents, as (day requested, day supplied)."""
    out: list[Pause] = []
    since: date | None = None
    for t in transitions:
        if t.to_state is ClaimState.DOCUMENTS_REQUESTED:
            since = t.on
        elif t.from_state is ClaimState.DOCUMENTS_REQUESTED and since is not None:
            out.append((since, t.on))
            since = None
    return out


def due_date(calendar: WorkingCalendar, claim: Claim, transitions: Sequence[ClaimTransition], days: int) -> date:
    """The day the claim must be paid by (the clock as if it ran now, for a paused claim)."""
    return calendar.add_working_days(claim.submitted_on, days, pauses(transitions))


def days_left(calendar: WorkingCalendar, due: date | None, today: date) -> int | None:
    """Working days from today to the due date; negative once it has passed; None off the clock (paused
    for documents, or decided)."""
    if due is None:
        return None
    if today <= due:
        return calendar.working_days_between(today, due)
    return -calendar.working_days_between(due, today)
