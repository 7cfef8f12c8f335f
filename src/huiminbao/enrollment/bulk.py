"""Policies for a share of a roster at once: the demo city's enrollment (``hmb db load-demo``).

Every chosen person passes the same ``eligibility.decide`` a purchase does (city, insurance type and
status, tier and premium by population), and gets a paid order of their own with an active policy, in
bulk inserts rather than one purchase at a time. The channel follows who they are: an employee pays from
the personal account, someone over 70 at the counter, everyone else online.
"""

from __future__ import annotations

import secrets
from datetime import date

import numpy as np
import sqlalchemy as sa
from sqlalchemy.orm import Session

from huiminbao.db.base import utcnow
from huiminbao.engine.prepare import age_at
from huiminbao.enrollment.eligibility import decide
from huiminbao.enrollment.models import (
    Channel,
    InsuredPerson,
    OrderStatus,
    Policy,
    PolicyEvent,
    PolicyOrder,
    PolicyStatus,
    Relation,
)
from huiminbao.enrollment.purchase import EMPLOYEE_INSUTYPE, applicant
from huiminbao.identity import audit
from huiminbao.plans import Compiled
from huiminbao.settings import at_day

COUNTER_FROM_AGE = 70


def enroll_share(
    *, session: Session, actor: audit.Actor, compiled: Compiled, share: float, day: date, seed: int
) -> int:
    """Enroll about ``share`` of the roster's people who may buy the plan on ``day`` and hold none yet;
    returns how many policies were made. The draw is over the whole area's roster in id order, so the
    same seed chooses the same people again: a second run enrolls only people the roster added since."""
    plan = compiled.plan
    held = set(session.scalars(sa.select(Policy.person_id).where(Policy.plan_id == plan.id)))
    people = session.scalars(
        sa.select(InsuredPerson)
        .where(InsuredPerson.insu_admdvs.startswith(plan.eligibility.admdvs_prefix))
        .order_by(InsuredPerson.id)
    ).all()
    picks = np.random.default_rng(seed).random(len(people)) < share
    chosen = [p for p, pick in zip(people, picks, strict=True) if pick and p.id not in held]
    decided = [(p, decide(compiled, applicant(p), day=day)) for p in chosen]
    decided = [(p, d) for p, d in decided if d.eligible]
    if not decided:
        return 0
    now, paid_at = utcnow(), at_day(day)  # the row's making is now; the purchase is on ``day``
    orders = [
        {
            "order_no": f"O{plan.year}{secrets.randbelow(10**14):014d}",
            "plan_id": plan.id,
            "payer_id": p.id,
            "channel": _channel(p, plan.cover_start),
            "status": OrderStatus.PAID,
            "total_fen": d.premium_fen,
            "username": actor.name,
            "created_at": now,
            "paid_at": paid_at,
        }
        for p, d in decided
    ]
    ids = session.scalars(sa.insert(PolicyOrder).returning(PolicyOrder.id, sort_by_parameter_order=True), orders).all()
    policies = [
        {
            "policy_no": f"P{d.cover_start.year}{secrets.randbelow(10**14):014d}",
            "order_id": order_id,
            "plan_id": plan.id,
            "person_id": p.id,
            "tier": d.tier,
            "relation": Relation.SELF,
            "premium_fen": d.premium_fen,
            "status": PolicyStatus.ACTIVE,
            "status_date": day,
            "cover_start": d.cover_start,
            "cover_end": d.cover_end,
            "verify_code": secrets.token_hex(6).upper(),
            "renew": False,
            "created_at": now,
            "updated_at": now,
        }
        for (p, d), order_id in zip(decided, ids, strict=True)
    ]
    policy_ids = session.scalars(sa.insert(Policy).returning(Policy.id, sort_by_parameter_order=True), policies).all()
    session.execute(
        sa.insert(PolicyEvent),
        [
            {
                "policy_id": i,
                "status": PolicyStatus.ACTIVE,
                "effective": max(day, d.cover_start),
                "reason": "已缴费，保单生效",
                "created_at": now,
            }
            for i, (_, d) in zip(policy_ids, decided, strict=True)
        ],
    )
    audit.record(
        session=session, actor=actor, action="policy.bulk_enroll", entity="plan", entity_id=plan.id,
        after={"policies": len(decided), "share": share, "day": day.isoformat()},
    )  # fmt: skip
    return len(decided)


def _channel(person: InsuredPerson, cover_start: date) -> Channel:
    if person.insutype == EMPLOYEE_INSUTYPE:
        return Channel.PERSONAL_ACCOUNT
    age = age_at(person.birth_date, cover_start) or 0
    return Channel.COUNTER if age >= COUNTER_FROM_AGE else Channel.ONLINE


__all__ = ["enroll_share"]
