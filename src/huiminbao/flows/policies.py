"""Cancelling a policy: enrollment's refund rule, told by settlement whether a claim was paid."""

from __future__ import annotations

from datetime import date

from sqlalchemy.orm import Session

from huiminbao.enrollment.lifecycle import Cancelled, cancel
from huiminbao.enrollment.policies import get_policy_or_raise
from huiminbao.identity import audit
from huiminbao.plans import load_plan
from huiminbao.settlement.service import paid_to


def cancel_policy(*, session: Session, actor: audit.Actor, policy_no: str, day: date) -> Cancelled:
    """Cancel and refund as the plan says; raises ``PolicyNotFound`` or ``CancelRefused``."""
    held = get_policy_or_raise(session=session, policy_no=policy_no)
    plan = load_plan(held.policy.plan_id)
    paid = paid_to(session=session, plan_id=plan.id, psn_no=held.person.psn_no)
    return cancel(session=session, actor=actor, held=held, plan=plan, day=day, paid_fen=paid)


__all__ = ["cancel_policy"]
