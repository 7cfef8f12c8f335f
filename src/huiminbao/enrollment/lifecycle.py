"""A policy's life after purchase: cancellation and refund by the plan's ``refund`` rule, renewal into
next year's plan.

Cancelling an unpaid policy just cancels it. A paid one is refunded as the plan file says: a share of the
premium before cover starts, the unused days after (``pro_rata``) or nothing (``none``: refused), and never
once a claim has been paid on it unless the plan allows it. Every refusal says why in Chinese; every change
is a policy event and an audit entry. Functions take a keyword-only session and never commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy.orm import Session

from huiminbao.enrollment.models import Policy, PolicyEvent, PolicyStatus
from huiminbao.enrollment.policies import Held
from huiminbao.identity import audit
from huiminbao.money import bp_to_percent, round_half_up_div, to_yuan
from huiminbao.plans import Plan
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


__all__ = ["CancelRefused", "Cancelled", "cancel", "refund_due"]
