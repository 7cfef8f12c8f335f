"""A policy's life after purchase: cancellation and refund by the plan's ``refund`` rule, and renewal into
next year's plan with the payer's consent.

Cancelling an unpaid policy just cancels it. A paid one is refunded as the plan file says: a share of the
premium before cover starts, the unused days after (``pro_rata``) or nothing (``none``: refused), and never
once a claim has been paid on it unless the plan allows it. Every refusal says why in Chinese; every change
is a policy event and an audit entry. Functions take a keyword-only session and never commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm import Session

from huiminbao.enrollment.eligibility import decide
from huiminbao.enrollment.models import (
    Channel,
    InsuredPerson,
    OrderStatus,
    Policy,
    PolicyEvent,
    PolicyOrder,
    PolicyStatus,
)
from huiminbao.enrollment.policies import Held
from huiminbao.enrollment.purchase import applicant, held_policies, live_policy, number, place_policy
from huiminbao.identity import audit
from huiminbao.money import bp_to_percent, round_half_up_div, to_yuan
from huiminbao.plans import Compiled, Plan
from huiminbao.plans.schema import AfterStart

BP = 10_000
CANCELLABLE = (PolicyStatus.PENDING_PAYMENT, PolicyStatus.ACTIVE, PolicyStatus.SUSPENDED)


class CancelRefused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass(frozen=True)
class Cancelled:
    policy_no: str
    status: PolicyStatus
    refund_fen: int
    reason: str


def refund_due(plan: Plan, policy: Policy, day: date) -> tuple[int, str]:
    """The refund for cancelling on ``day`` and the sentence that explains it; ``CancelRefused`` when the
    plan allows none."""
    rule = plan.enrollment.refund
    if rule is None:
        raise CancelRefused("refund_not_allowed", f"{plan.name}未规定退保，已缴费的保单不能退保")
    note = "（退保规则为假设，来源文件未规定）" if rule.status and rule.status.value == "assumed" else ""
    if day < policy.cover_start:
        amount = round_half_up_div(policy.premium_fen * rule.before_cover, BP)
        return amount, f"保障开始前退保，退还保费的 {bp_to_percent(rule.before_cover)}：{to_yuan(amount)} 元{note}"
    if day > policy.cover_end:
        raise CancelRefused("cover_ended", f"保障期已于 {policy.cover_end} 结束，不能退保")
    if rule.after_start == AfterStart.NONE:
        raise CancelRefused("cover_started", f"保障已于 {policy.cover_start} 开始，按规则不予退保{note}")
    total = (policy.cover_end - policy.cover_start).days + 1
    unused = (policy.cover_end - day).days  # the day of cancellation is still covered
    amount = round_half_up_div(policy.premium_fen * unused, total)
    return amount, f"退还未使用的 {unused} 天保费（共 {total} 天）：{to_yuan(amount)} 元{note}"


def cancel(*, session: Session, actor: audit.Actor, held: Held, plan: Plan, day: date, paid_fen: int) -> Cancelled:
    """Cancel the policy on ``day``; ``paid_fen`` is what claims have paid on it so far."""
    policy = session.get(Policy, held.policy.id, with_for_update=True)
    assert policy is not None
    if policy.status not in CANCELLABLE:
        raise CancelRefused("not_cancellable", f"保单状态为 {policy.status.value}，不能退保")
    before = policy.status.value
    if policy.status == PolicyStatus.PENDING_PAYMENT:
        refund, why, status = 0, "未缴费订单撤销，无需退费", PolicyStatus.CANCELLED
    else:
        rule = plan.enrollment.refund
        paid = paid_fen
        if paid > 0 and not (rule and rule.after_claim):
            raise CancelRefused("claim_paid", f"本保单已赔付 {to_yuan(paid)} 元，不能退保")
        refund, why = refund_due(plan, policy, day)
        status = PolicyStatus.REFUNDED
    policy.status, policy.status_date = status, day
    session.add(PolicyEvent(policy_id=policy.id, status=status, effective=day, reason=why[:200]))
    audit.record(
        session=session, actor=actor, action="policy.cancel", entity="policy", entity_id=policy.policy_no,
        before={"status": before}, after={"status": status.value, "refund": to_yuan(refund)},
    )  # fmt: skip
    session.flush()
    return Cancelled(policy.policy_no, status, refund, why)


@dataclass(frozen=True)
class Renewal:
    renewed: list[dict[str, str]]  # policy_no, psn_no, new policy_no, order_no, premium
    not_renewed: list[dict[str, str]]  # policy_no, psn_no, reason


def set_renewal(*, session: Session, actor: audit.Actor, held: Held, consent: bool) -> None:
    """The payer's consent (or its withdrawal) to renew this policy into next year's plan."""
    policy = session.get(Policy, held.policy.id)
    assert policy is not None
    policy.renew = consent
    audit.record(
        session=session, actor=actor, action="policy.renewal_consent", entity="policy", entity_id=policy.policy_no,
        after={"renew": consent},
    )  # fmt: skip


def renew(*, session: Session, actor: audit.Actor, old: Compiled, new: Compiled, day: date) -> Renewal:
    """Renew last year's policyholders into the new plan: each policy whose payer consented becomes an order
    for the new plan through the same channel, waiting for payment (an online payment, or the bureau's
    personal-account deduction file); the others are listed with the reason. Running it again renews no one
    twice (they then hold the new plan)."""
    rows = session.execute(
        sa.select(Policy, InsuredPerson, PolicyOrder)
        .join(InsuredPerson, InsuredPerson.id == Policy.person_id)
        .outerjoin(PolicyOrder, PolicyOrder.id == Policy.order_id)
        .where(
            Policy.plan_id == old.plan.id,
            Policy.status.in_((PolicyStatus.ACTIVE, PolicyStatus.SUSPENDED, PolicyStatus.ENDED)),
        )
        .order_by(Policy.id)
    ).all()
    out = Renewal([], [])
    for policy, person, order in rows:
        who = {"policy_no": policy.policy_no, "psn_no": person.psn_no}
        if not policy.renew:
            out.not_renewed.append(who | {"reason": "投保人未同意续保"})
            continue
        channel = order.channel if order is not None else Channel.ONLINE
        if channel in (Channel.GROUP, Channel.CHARITY, Channel.COUNTER):
            channel = Channel.ONLINE  # a group's, a charity's or the counter's payment is not renewed for them
        d = decide(
            new, applicant(person), day=day, channel=channel, tier=policy.tier if _has_tier(new, policy.tier) else None
        )
        held = live_policy(session=session, plan_id=new.plan.id, person_id=person.id) if d.eligible else None
        if not d.eligible or held is not None:
            out.not_renewed.append(who | {"reason": d.reason if not d.eligible else f"已持有{new.plan.name}保单"})
            continue
        payer = order.payer_id if order is not None else person.id
        renewed = PolicyOrder(
            order_no=number("O", new.plan.year), plan_id=new.plan.id, payer_id=payer or person.id, channel=channel,
            status=OrderStatus.PENDING_PAYMENT, total_fen=d.premium_fen or 0, username=actor.name,
        )  # fmt: skip
        session.add(renewed)
        session.flush()
        reuse = held_policies(session=session, plan_id=new.plan.id, person_ids=[person.id]).get(person.id)
        placed = place_policy(
            session, renewed, new.plan.id, person, policy.relation, d, paid=False, day=day, reuse=reuse
        )
        placed.renew = True
        out.renewed.append(
            who | {"new_policy_no": placed.policy_no, "order": renewed.order_no, "premium": to_yuan(d.premium_fen or 0)}
        )
    audit.record(
        session=session, actor=actor, action="policy.renew", entity="plan", entity_id=new.plan.id,
        after={"from": old.plan.id, "renewed": len(out.renewed), "not_renewed": len(out.not_renewed)},
    )  # fmt: skip
    return out


def _has_tier(compiled: Compiled, tier: str) -> bool:
    return any(t.id == tier for t in compiled.plan.tiers)


__all__ = ["CancelRefused", "Cancelled", "Renewal", "cancel", "refund_due", "renew", "set_renewal"]
