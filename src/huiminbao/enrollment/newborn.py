"""Newborns covered with their parents (Liaocheng 2024: a newborn of the cover year whose two parents both
hold the year's policy is covered from birth, without a purchase).

The roster does not link children to parents, so whoever registers the newborn (a parent, or a clerk with
the birth certificate) names both parents; the rule checks that each holds an active policy of the plan.
The child gets a policy with no premium whose cover runs from the birth date. Functions take a
keyword-only session and never commit.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy.orm import Session

from huiminbao.enrollment.eligibility import Decision, Refusal
from huiminbao.enrollment.models import Channel, OrderStatus, PolicyOrder, PolicyStatus, Relation
from huiminbao.enrollment.purchase import (
    PurchaseRefused,
    held_policies,
    live_policy,
    number,
    people_by_psn_no,
    place_policy,
)
from huiminbao.identity import audit
from huiminbao.plans import Compiled
from huiminbao.settings import at_day

NEWBORN_PAYER = "新生儿随父母参保"


def cover_newborn(
    *, session: Session, actor: audit.Actor, compiled: Compiled, child: str, parents: tuple[str, str], day: date
) -> PolicyOrder:
    plan = compiled.plan
    rule = plan.enrollment.newborn
    if rule is None or not rule.auto_cover_if_both_parents_insured:
        raise PurchaseRefused(Refusal.NOT_ELIGIBLE, f"{plan.name}没有新生儿随父母参保的规定", child, None)
    if len(set(parents)) != 2 or child in parents:
        raise PurchaseRefused(Refusal.NOT_ELIGIBLE, "须写明新生儿的父母二人", child, None)
    people = people_by_psn_no(session=session, psn_nos=[child, *parents])
    baby = people.get(child)
    if baby is None:
        raise PurchaseRefused(Refusal.NOT_IN_ROSTER, f"{child}：基本医保参保人员名册中没有此人员编号", child, 0)
    if not baby.insu_admdvs.startswith(plan.eligibility.admdvs_prefix):
        raise PurchaseRefused(Refusal.NOT_ELIGIBLE, f"{child}：不是{plan.city}基本医保参保人", child, 0)
    if not plan.cover_start <= baby.birth_date <= plan.cover_end:
        raise PurchaseRefused(
            Refusal.NOT_ELIGIBLE, f"{child}：出生于 {baby.birth_date}，不是 {plan.year} 年度的新生儿", child, 0
        )
    for i, p in enumerate(parents, start=1):
        parent = people.get(p)
        held = live_policy(session=session, plan_id=plan.id, person_id=parent.id) if parent else None
        if held is None or held.status != PolicyStatus.ACTIVE:
            raise PurchaseRefused(
                Refusal.NOT_ELIGIBLE, f"父母 {p} 未持有有效的{plan.name}保单，新生儿不能随父母参保", p, i
            )
    if live_policy(session=session, plan_id=plan.id, person_id=baby.id) is not None:
        raise PurchaseRefused(Refusal.ALREADY_INSURED, f"{child}：已持有{plan.name}保单", child, 0)
    tier = plan.tier()
    decision = Decision(
        True, "新生儿随父母参保，自出生起享受保障", tier=tier.id, tier_name=tier.name, premium_fen=0,
        cover_start=max(baby.birth_date, plan.cover_start), cover_end=plan.cover_end, rule=rule.cite,
    )  # fmt: skip
    order = PolicyOrder(
        order_no=number("O", plan.year), plan_id=plan.id, payer_id=None, payer_name=NEWBORN_PAYER,
        channel=Channel.COUNTER, status=OrderStatus.PAID, total_fen=0, username=actor.name, paid_at=at_day(day),
    )  # fmt: skip
    session.add(order)
    session.flush()
    reuse = held_policies(session=session, plan_id=plan.id, person_ids=[baby.id]).get(baby.id)
    place_policy(session, order, plan.id, baby, Relation.CHILD, decision, paid=True, day=day, reuse=reuse)
    audit.record(
        session=session, actor=actor, action="policy.newborn", entity="policy_order", entity_id=order.order_no,
        after={"plan": plan.id, "child": child, "parents": list(parents)},
    )  # fmt: skip
    return order


__all__ = ["NEWBORN_PAYER", "cover_newborn"]
