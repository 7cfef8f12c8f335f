"""What-if pricing on the platform's own stored year: the base plan's recorded settlements (the national
records as hospitals and the bureau sent them, with their fee lines) and its policyholders.

An actuary on the platform asks "what would last year have cost under this design?": the year is the one
the platform settled, not a file they must export first. Reading and checking a city's year from the
database costs far more than pricing it, so the frames are kept in memory between requests, keyed by the
plan and a stamp of what is stored (the last settlement and policy ids, their counts, the last policy
change): a new settlement or a policy change makes the next request read the year again.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from huiminbao.enrollment.models import InsuredPerson, Policy, PolicyStatus
from huiminbao.plans import compiled_plan, load_plan_text
from huiminbao.settlement.models import Settlement
from huiminbao.settlement.onestop import insured_frame
from huiminbao.settlement.reader import check_fee_lines, check_settlements, json_frame
from huiminbao.supervision.whatif import Comparison, WhatIfError, Year, compare, target_bp

HELD = (PolicyStatus.ACTIVE, PolicyStatus.SUSPENDED, PolicyStatus.ENDED)  # paid for: the year's insured
KEPT = 2  # years kept in memory: a city-year is a few hundred MB at most
Stamp = tuple[str, int | None, int, int | None, int, datetime | None]

_years: OrderedDict[Stamp, Year] = OrderedDict()
_lock = threading.Lock()


def _stamp(session: Session, plan_id: str) -> Stamp:
    setl = session.execute(
        sa.select(sa.func.max(Settlement.id), sa.func.count()).where(Settlement.plan_id == plan_id)
    ).one()
    pol = session.execute(
        sa.select(sa.func.max(Policy.id), sa.func.count(), sa.func.max(Policy.updated_at)).where(
            Policy.plan_id == plan_id
        )
    ).one()
    return (plan_id, setl[0], setl[1], pol[0], pol[1], pol[2])


def stored_year(*, session: Session, plan_id: str) -> Year:
    """The plan's stored year as the engine reads it (cached while nothing new is stored)."""
    stamp = _stamp(session, plan_id)
    with _lock:
        if stamp in _years:
            _years.move_to_end(stamp)
            return _years[stamp]
    year = _read(session, plan_id)
    with _lock:
        for old in [k for k in _years if k[0] == plan_id]:
            del _years[old]
        _years[stamp] = year
        while len(_years) > KEPT:
            _years.popitem(last=False)
    return year


def _read(session: Session, plan_id: str) -> Year:
    records = session.scalars(sa.select(Settlement.record).where(Settlement.plan_id == plan_id).order_by(Settlement.id))
    bodies = [json.loads(r) for r in records]
    if not bodies:
        raise WhatIfError(f"方案 {plan_id} 还没有已记录的结算，无法试算", "base")
    settlements = check_settlements(
        json_frame([{**b["setlinfo"], "diseases": b.get("diseases") or []} for b in bodies]), "已记录的结算"
    )
    lines = [{"setl_id": b["setlinfo"]["setl_id"], **ln} for b in bodies for ln in b.get("feedetl") or []]
    held = session.execute(
        sa.select(InsuredPerson, Policy)
        .join(Policy, Policy.person_id == InsuredPerson.id)
        .where(Policy.plan_id == plan_id, Policy.status.in_(HELD))
    ).all()
    return Year(
        settlements=settlements,
        fee_lines=check_fee_lines(json_frame(lines), "已记录的费用明细") if lines else None,
        insured=insured_frame([(p, policy) for p, policy in held]),
    )


def price_stored(
    *, session: Session, base: str, candidate: str, name: str, tier: str | None, target: str | None
) -> Comparison:
    """A candidate given as YAML text priced on the base plan's stored year; reads only."""
    current = compiled_plan(base)
    proposed = load_plan_text(candidate, name)
    goal = target_bp(target, current)
    return compare(current, proposed, stored_year(session=session, plan_id=base), tier=tier or None, target=goal)
