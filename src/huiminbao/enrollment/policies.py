"""Reading policies: who may see one, its e-policy, and the public verification by code.

A resident sees a policy when they are its insured person or paid for it (their family's); staff see any.
The public verification answer has no personal data: the plan, the tier, the cover period, whether it is
valid today, and the policy number with its middle masked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from huiminbao.enrollment.epolicy import STATUS_NAMES, EPolicy
from huiminbao.enrollment.models import InsuredPerson, Policy, PolicyOrder, PolicyStatus
from huiminbao.enrollment.purchase import RELATION_NAMES
from huiminbao.identity.certno import mask_certno
from huiminbao.identity.pii import decrypt_certno
from huiminbao.plans import PlanNotFound, load_plan


class PolicyNotFound(LookupError):
    """No policy with this number (or verification code)."""


@dataclass(frozen=True)
class Held:
    policy: Policy
    person: InsuredPerson
    payer_id: int | None


def get_policy_or_raise(*, session: Session, policy_no: str) -> Held:
    row = session.execute(
        sa.select(Policy, InsuredPerson, PolicyOrder.payer_id)
        .join(InsuredPerson, InsuredPerson.id == Policy.person_id)
        .outerjoin(PolicyOrder, PolicyOrder.id == Policy.order_id)
        .where(Policy.policy_no == policy_no)
    ).first()
    if row is None:
        raise PolicyNotFound(policy_no)
    return Held(row[0], row[1], row[2])


def resident_may_see(held: Held, psn_no: str | None, *, session: Session) -> bool:
    """The insured person, or the payer of the order (a family member's policy)."""
    if psn_no is None:
        return False
    if held.person.psn_no == psn_no:
        return True
    payer = session.get(InsuredPerson, held.payer_id) if held.payer_id is not None else None
    return payer is not None and payer.psn_no == psn_no


def family(*, session: Session, psn_no: str) -> dict[str, int]:
    """The persons a resident acts for, person number to key: themselves first, then everyone whose policy
    they paid (their family), by person number; empty when the resident is not in the roster. Claims and
    service cases use it; a single policy's check is ``resident_may_see``."""
    me = session.scalars(sa.select(InsuredPerson.id).where(InsuredPerson.psn_no == psn_no)).one_or_none()
    if me is None:
        return {}
    paid = session.execute(
        sa.select(InsuredPerson.psn_no, InsuredPerson.id)
        .join(Policy, Policy.person_id == InsuredPerson.id)
        .join(PolicyOrder, PolicyOrder.id == Policy.order_id)
        .where(PolicyOrder.payer_id == me, InsuredPerson.id != me)
        .distinct()
        .order_by(InsuredPerson.psn_no)
    )
    return {psn_no: me, **{p: i for p, i in paid}}


def resident_pays_for(*, session: Session, order: PolicyOrder, psn_no: str | None) -> bool:
    """Whether this resident is the payer of the order."""
    payer = session.get(InsuredPerson, order.payer_id) if order.payer_id is not None else None
    return payer is not None and psn_no is not None and payer.psn_no == psn_no


def epolicy(held: Held, *, keys: Sequence[bytes], verify_url: str, issued: date) -> EPolicy:
    p = held.policy
    plan = load_plan(p.plan_id)
    return EPolicy(
        policy_no=p.policy_no,
        plan=plan,
        tier=plan.tier(p.tier),
        name_masked=held.person.name_masked,
        certno_masked=mask_certno(decrypt_certno(held.person.certno_enc, keys)),
        relation=RELATION_NAMES[p.relation],
        premium_fen=p.premium_fen,
        status=p.status.value,
        cover_start=p.cover_start,
        cover_end=p.cover_end,
        verify_code=p.verify_code,
        verify_url=verify_url,
        issued=issued,
    )


def verify(*, session: Session, code: str, day: date) -> dict[str, Any]:
    """What anyone holding the e-policy's code may learn: is this policy valid on ``day``, for what."""
    policy = session.scalars(sa.select(Policy).where(Policy.verify_code == code.strip().upper())).first()
    if policy is None:
        raise PolicyNotFound(code)
    try:
        plan = load_plan(policy.plan_id)
        plan_name, tier_name = plan.name, plan.tier(policy.tier).name
    except (PlanNotFound, KeyError):
        plan_name, tier_name = policy.plan_id, policy.tier
    in_force = policy.status == PolicyStatus.ACTIVE and policy.cover_start <= day <= policy.cover_end
    if in_force:
        why = "保单有效"
    elif policy.status == PolicyStatus.ACTIVE and day < policy.cover_start:
        why = f"保单已生效，保障自 {policy.cover_start} 开始"
    elif policy.status == PolicyStatus.ACTIVE:
        why = f"保障期已于 {policy.cover_end} 结束"
    else:
        why = f"保单{STATUS_NAMES[policy.status.value]}"
    no = policy.policy_no
    return {
        "valid": in_force,
        "reason": why,
        "status": policy.status.value,
        "status_name": STATUS_NAMES[policy.status.value],
        "policy_no": no[:5] + "*" * (len(no) - 9) + no[-4:],
        "plan": policy.plan_id,
        "plan_name": plan_name,
        "tier_name": tier_name,
        "cover_start": policy.cover_start.isoformat(),
        "cover_end": policy.cover_end.isoformat(),
        "checked_on": day.isoformat(),
    }


__all__ = [
    "Held",
    "PolicyNotFound",
    "epolicy",
    "get_policy_or_raise",
    "resident_may_see",
    "resident_pays_for",
    "verify",
]
