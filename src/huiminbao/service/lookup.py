"""Policy look-up for the service desk: a person by ID number, and a group order by its payer or number.

A caller at the counter or on the hotline gives an ID number, not a person number; the number is checked
(GB 11643 check digit), found through the keyed blind index (``certno_hash``, as enrollment finds it) and
never kept: the audit entry of the look-up holds it masked, found or not, so the log shows who looked up
whom without becoming a list of ID numbers. Results show persons masked. Adjusters and finance see only
the policies of their consortium's plans (``plan_ids`` from ``access.scope.visible_plans``).

Functions take a keyword-only session and never commit (a look-up that found nobody is still audited:
the caller commits before answering 404).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from huiminbao.enrollment.epolicy import STATUS_NAMES
from huiminbao.enrollment.models import Channel, InsuredPerson, Policy, PolicyOrder
from huiminbao.enrollment.purchase import RELATION_NAMES
from huiminbao.identity import audit
from huiminbao.identity.certno import CertNoError, mask_certno, validate_certno
from huiminbao.identity.pii import certno_hash, decrypt_certno
from huiminbao.money import to_yuan
from huiminbao.plans import PlanError, PlanNotFound, load_plan
from huiminbao.service.service import ServiceError

MEMBERS_SHOWN = 200  # a group's members listed on one page; the counts cover them all
GROUPS_SHOWN = 20


def _plan_names(plan_id: str, tier_id: str) -> tuple[str, str]:
    """The plan's and tier's Chinese names; the ids when the plan file is gone."""
    try:
        plan = load_plan(plan_id)
        return f"{plan.city} {plan.year} {plan.name}", plan.tier(tier_id).name
    except (PlanNotFound, PlanError, KeyError, ValueError):
        return plan_id, tier_id


def policy_view(p: Policy) -> dict[str, Any]:
    plan, tier = _plan_names(p.plan_id, p.tier)
    return {
        "policy_no": p.policy_no,
        "plan": p.plan_id,
        "plan_name": plan,
        "tier": p.tier,
        "tier_name": tier,
        "relation": RELATION_NAMES[p.relation],
        "premium": to_yuan(p.premium_fen),
        "status": p.status.value,
        "status_name": STATUS_NAMES.get(p.status.value, p.status.value),
        "cover_start": p.cover_start.isoformat(),
        "cover_end": p.cover_end.isoformat(),
    }


def _in_plans(plan_ids: frozenset[str] | None) -> list[Any]:
    return [] if plan_ids is None else [Policy.plan_id.in_(plan_ids)]


def lookup_person(
    *, session: Session, actor: audit.Actor, certno: str, keys: Sequence[bytes], hash_key: bytes,
    plan_ids: frozenset[str] | None = None,
) -> dict[str, Any] | None:  # fmt: skip
    """The person with this ID number and their policies, masked; None when the roster has no such
    person. Audited either way with the ID number masked."""
    text = certno.strip().upper()
    try:
        validate_certno(text)
    except CertNoError:
        raise ServiceError(
            422, "invalid_certno", "身份证号无效：应为 18 位，末位校验码须符合 GB 11643", "certno"
        ) from None
    masked = mask_certno(text)
    person = session.scalars(
        sa.select(InsuredPerson).where(InsuredPerson.certno_hash == certno_hash(text, hash_key))
    ).one_or_none()
    policies = (
        session.scalars(
            sa.select(Policy)
            .where(Policy.person_id == person.id, *_in_plans(plan_ids))
            .order_by(Policy.cover_start.desc())
        ).all()
        if person is not None
        else []
    )
    audit.record(
        session=session, actor=actor, action="service.lookup_person", entity="person",
        entity_id=person.psn_no if person else masked,
        after={"certno": masked, "found": person is not None, "policies": len(policies)},
    )  # fmt: skip
    if person is None:
        return None
    return {
        "person": {
            "psn_no": person.psn_no,
            "certno": masked,
            "name": person.name_masked,
            "phone": person.phone_masked,
            "gender": person.gender,
            "insutype": person.insutype,
            "insu_admdvs": person.insu_admdvs,
            "insu_status": person.insu_status.value,
        },
        "policies": [policy_view(p) for p in policies],
    }


def lookup_groups(
    *, session: Session, actor: audit.Actor, query: str, keys: Sequence[bytes], plan_ids: frozenset[str] | None = None
) -> list[dict[str, Any]]:
    """Group and charity orders whose number is ``query`` or whose payer's name contains it, each with its
    policies counted by status and tier and its first members masked. Audited (the query and what was
    found, no member)."""
    q = query.strip()
    if not q:
        raise ServiceError(422, "empty_query", "请输入单位名称或订单号", "q")
    where = [PolicyOrder.channel.in_((Channel.GROUP, Channel.CHARITY))]
    if plan_ids is not None:
        where.append(PolicyOrder.plan_id.in_(plan_ids))
    pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    match = sa.or_(PolicyOrder.order_no == q, PolicyOrder.payer_name.like(pattern, escape="\\"))
    orders = session.scalars(
        sa.select(PolicyOrder).where(*where, match).order_by(PolicyOrder.id.desc()).limit(GROUPS_SHOWN)
    ).all()
    out = [_group_view(session, o, keys) for o in orders]
    audit.record(
        session=session, actor=actor, action="service.lookup_group", entity="policy_order",
        entity_id=",".join(o.order_no for o in orders)[:200] or "-",
        after={"query": q[:100], "orders": len(orders)},
    )  # fmt: skip
    return out


def _group_view(session: Session, order: PolicyOrder, keys: Sequence[bytes]) -> dict[str, Any]:
    by_status = {
        s: n
        for s, n in session.execute(
            sa.select(Policy.status, sa.func.count()).where(Policy.order_id == order.id).group_by(Policy.status)
        )
    }
    by_tier = {
        t: n
        for t, n in session.execute(
            sa.select(Policy.tier, sa.func.count()).where(Policy.order_id == order.id).group_by(Policy.tier)
        )
    }
    rows = session.execute(
        sa.select(Policy, InsuredPerson)
        .join(InsuredPerson, InsuredPerson.id == Policy.person_id)
        .where(Policy.order_id == order.id)
        .order_by(Policy.id)
        .limit(MEMBERS_SHOWN)
    ).all()
    plan, _ = _plan_names(order.plan_id, "")
    return {
        "order_no": order.order_no,
        "payer_name": order.payer_name,
        "channel": order.channel.value,
        "plan": order.plan_id,
        "plan_name": plan,
        "total": to_yuan(order.total_fen),
        "members": sum(by_status.values()),
        "by_status": [
            {"status": s.value, "name": STATUS_NAMES.get(s.value, s.value), "count": n}
            for s, n in sorted(by_status.items())
        ],
        "by_tier": [{"tier": t, "count": n} for t, n in sorted(by_tier.items())],
        "shown": [
            {
                "psn_no": person.psn_no,
                "name": person.name_masked,
                "certno": mask_certno(decrypt_certno(person.certno_enc, keys)),
                "policy_no": p.policy_no,
                "tier": p.tier,
                "status": p.status.value,
                "status_name": STATUS_NAMES.get(p.status.value, p.status.value),
                "cover_start": p.cover_start.isoformat(),
                "cover_end": p.cover_end.isoformat(),
            }
            for p, person in rows
        ],
    }


__all__ = ["lookup_groups", "lookup_person", "policy_view"]
