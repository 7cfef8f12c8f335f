"""Buying a plan for oneself and one's family in one order, all or nothing.

Every member is decided by ``eligibility.decide``; the personal account (个人账户) may pay only for the
relations and head count the plan's ``family_purchase`` allows, for relatives insured in the city, and
only from an employee's account. The first refusal refuses the whole order, naming the member and the
rule. One policy per person and plan is a unique constraint: when two orders race for the same person the
second fails at the database, and is refused as ``already_insured``. Functions take a keyword-only session
and never commit.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from huiminbao.enrollment.eligibility import Applicant, Decision, Refusal, decide
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
from huiminbao.identity import audit
from huiminbao.money import to_yuan
from huiminbao.plans import Compiled
from huiminbao.settings import at_day
from huiminbao.vocabulary import INSUTYPES

EMPLOYEE_INSUTYPE = "310"  # only an employee has a personal account (个人账户)
LIVE = (PolicyStatus.PENDING_PAYMENT, PolicyStatus.ACTIVE, PolicyStatus.SUSPENDED)
RELATION_NAMES = {
    Relation.SELF: "本人",
    Relation.SPOUSE: "配偶",
    Relation.CHILD: "子女",
    Relation.PARENT: "父母",
    Relation.SPOUSE_PARENT: "配偶的父母",
    Relation.SIBLING: "兄弟姐妹",
    Relation.GRANDPARENT: "祖父母、外祖父母",
    Relation.GRANDCHILD: "孙子女、外孙子女",
    Relation.OTHER: "其他",
}


class PurchaseRefused(Exception):
    """The order is refused as a whole: ``code`` (INTERFACES.md), the member it concerns, a Chinese reason."""

    def __init__(self, code: Refusal, message: str, psn_no: str | None = None, index: int | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.psn_no, self.index = code, message, psn_no, index

    @property
    def field(self) -> str | None:
        return f"members[{self.index}].psn_no" if self.index is not None else "payer"


@dataclass(frozen=True)
class Member:
    psn_no: str
    relation: Relation


def applicant(person: InsuredPerson) -> Applicant:
    return Applicant(
        psn_no=person.psn_no,
        insutype=person.insutype,
        insu_admdvs=person.insu_admdvs,
        insu_status=person.insu_status,
        birth_date=person.birth_date,
        populations=person.population_tags,
    )


def people_by_psn_no(*, session: Session, psn_nos: list[str]) -> dict[str, InsuredPerson]:
    rows = session.scalars(sa.select(InsuredPerson).where(InsuredPerson.psn_no.in_(psn_nos))).all()
    return {p.psn_no: p for p in rows}


def live_policy(*, session: Session, plan_id: str, person_id: int) -> Policy | None:
    return session.scalars(
        sa.select(Policy).where(Policy.plan_id == plan_id, Policy.person_id == person_id, Policy.status.in_(LIVE))
    ).first()


def check_eligibility(
    *,
    session: Session,
    compiled: Compiled,
    psn_no: str,
    day: date,
    channel: Channel | None = None,
    tier: str | None = None,
) -> Decision:
    """``decide`` for a roster entry, also refusing a person who already holds this plan."""
    person = people_by_psn_no(session=session, psn_nos=[psn_no]).get(psn_no)
    decision = decide(compiled, applicant(person) if person else None, day=day, channel=channel, tier=tier)
    if decision.eligible and person is not None:
        held = live_policy(session=session, plan_id=compiled.plan.id, person_id=person.id)
        if held is not None:
            return Decision(False, f"已持有{compiled.plan.name}保单 {held.policy_no}", Refusal.ALREADY_INSURED)
    return decision


def _family_rules(compiled: Compiled, payer: InsuredPerson | None, members: list[Member]) -> None:
    """The personal account's limits: an employee's account, the plan's relations and head count."""
    plan = compiled.plan
    rules = plan.enrollment.family_purchase
    if rules is None:
        raise PurchaseRefused(Refusal.RELATION_NOT_ALLOWED, f"{plan.name}不允许用医保个人账户购买")
    if payer is None or payer.insutype != EMPLOYEE_INSUTYPE:
        kind = INSUTYPES.get(payer.insutype, payer.insutype) if payer else "不在名册"
        raise PurchaseRefused(
            Refusal.RELATION_NOT_ALLOWED, f"付款人是{kind}参保人，没有职工医保个人账户", payer.psn_no if payer else None
        )
    allowed = set(rules.relations)
    for i, m in enumerate(members):
        if m.relation.value not in allowed:
            named = "、".join(RELATION_NAMES[Relation(r)] for r in rules.relations)
            raise PurchaseRefused(
                Refusal.RELATION_NOT_ALLOWED,
                f"医保个人账户只能为{named}购买，{m.psn_no}（{RELATION_NAMES[m.relation]}）不在其列",
                m.psn_no,
                i,
            )
    relatives = [m for m in members if m.relation != Relation.SELF]
    if rules.max_persons is not None and len(relatives) > rules.max_persons:
        raise PurchaseRefused(
            Refusal.TOO_MANY_MEMBERS,
            f"医保个人账户最多为 {rules.max_persons} 名近亲属购买，本单有 {len(relatives)} 名",
            relatives[rules.max_persons].psn_no,
            members.index(relatives[rules.max_persons]),
        )


def buy(
    *,
    session: Session,
    actor: audit.Actor,
    compiled: Compiled,
    payer_psn_no: str,
    members: list[Member],
    channel: Channel,
    day: date,
    tier: str | None = None,
    paid: bool,
) -> PolicyOrder:
    """Place one order: a policy per member, active at once when ``paid`` (the counter, an imported
    personal-account result), else waiting for payment. Raises ``PurchaseRefused`` and writes nothing."""
    plan = compiled.plan
    if not members:
        raise PurchaseRefused(Refusal.NOT_ELIGIBLE, "订单中没有被保险人")
    seen: set[str] = set()
    for i, m in enumerate(members):
        if m.psn_no in seen:
            raise PurchaseRefused(Refusal.ALREADY_INSURED, f"{m.psn_no} 在本单中出现了两次", m.psn_no, i)
        seen.add(m.psn_no)
    people = people_by_psn_no(session=session, psn_nos=[payer_psn_no, *seen])
    payer = people.get(payer_psn_no)
    if channel == Channel.PERSONAL_ACCOUNT:
        _family_rules(compiled, payer, members)
    if channel in (Channel.GROUP, Channel.CHARITY) and not plan.enrollment.group_policies:
        raise PurchaseRefused(Refusal.NOT_ELIGIBLE, f"{plan.name}不接受团体或慈善投保")
    decisions: list[tuple[Member, InsuredPerson, Decision]] = []
    for i, m in enumerate(members):
        person = people.get(m.psn_no)
        decision = decide(compiled, applicant(person) if person else None, day=day, channel=channel, tier=tier)
        if not decision.eligible or person is None:
            assert decision.code is not None
            raise PurchaseRefused(decision.code, f"{m.psn_no}：{decision.reason}", m.psn_no, i)
        decisions.append((m, person, decision))
    held = held_policies(session=session, plan_id=plan.id, person_ids=[p.id for _, p, _ in decisions])
    for i, (m, person, _) in enumerate(decisions):
        policy = held.get(person.id)
        if policy is not None and policy.status in LIVE:
            raise PurchaseRefused(
                Refusal.ALREADY_INSURED, f"{m.psn_no}：已持有{plan.name}保单 {policy.policy_no}", m.psn_no, i
            )
    order = PolicyOrder(
        order_no=number("O", plan.year),
        plan_id=plan.id,
        payer_id=payer.id if payer else None,
        channel=channel,
        status=OrderStatus.PAID if paid else OrderStatus.PENDING_PAYMENT,
        total_fen=sum(d.premium_fen or 0 for _, _, d in decisions),
        username=actor.name,
        paid_at=at_day(day) if paid else None,  # the platform's day (HMB_TODAY)
    )
    session.add(order)
    for m, person, d in decisions:
        place_policy(session, order, plan.id, person, m.relation, d, paid=paid, day=day, reuse=held.get(person.id))
    try:
        session.flush()
    except IntegrityError:  # a racing order took one of them first: the unique constraint refused this one
        raise PurchaseRefused(Refusal.ALREADY_INSURED, "本单中有人刚刚已被其他订单投保，请刷新后重试") from None
    audit.record(
        session=session,
        actor=actor,
        action="policy.buy",
        entity="policy_order",
        entity_id=order.order_no,
        after={"plan": plan.id, "channel": channel.value, "members": len(members), "total": to_yuan(order.total_fen)},
    )
    return order


def held_policies(*, session: Session, plan_id: str, person_ids: list[int]) -> dict[int, Policy]:
    """The plan's policies of these people, whatever their status, locked: a live one refuses the
    purchase, a cancelled or refunded one is taken up again (two orders doing so at once queue here)."""
    rows = session.scalars(
        sa.select(Policy).where(Policy.plan_id == plan_id, Policy.person_id.in_(person_ids)).with_for_update()
    ).all()
    return {p.person_id: p for p in rows}


def place_policy(
    session: Session, order: PolicyOrder, plan_id: str, person: InsuredPerson, relation: Relation, d: Decision,
    *, paid: bool, day: date, reuse: Policy | None = None,
) -> Policy:  # fmt: skip
    """A member's policy in the order: ``reuse`` (the person's cancelled or refunded policy of this plan,
    from ``held_policies``) is taken up again, else a new one is made; either way with its event. Not
    flushed: the caller's next flush writes the order, its policies and events together."""
    status = PolicyStatus.ACTIVE if paid else PolicyStatus.PENDING_PAYMENT
    assert d.tier and d.premium_fen is not None and d.cover_start and d.cover_end
    if reuse is not None and reuse.status not in LIVE:
        policy = reuse
        policy.order, policy.tier, policy.relation, policy.premium_fen = order, d.tier, relation, d.premium_fen
        policy.status, policy.status_date, policy.cover_start = status, day, d.cover_start
    else:
        policy = Policy(
            policy_no=number("P", d.cover_start.year),
            order=order,
            plan_id=plan_id,
            person=person,
            tier=d.tier,
            relation=relation,
            premium_fen=d.premium_fen,
            status=status,
            status_date=day,
            cover_start=d.cover_start,
            cover_end=d.cover_end,
            verify_code=secrets.token_hex(6).upper(),
        )
        session.add(policy)
    reason = "已缴费，保单生效" if paid else "待缴费"
    session.add(PolicyEvent(policy=policy, status=status, effective=max(day, d.cover_start), reason=reason))
    return policy


def number(prefix: str, year: int) -> str:
    """An order or policy number: a letter, the year, 14 random digits (unique by constraint)."""
    return f"{prefix}{year}{secrets.randbelow(10**14):014d}"


def order_view(*, session: Session, order: PolicyOrder) -> dict[str, Any]:
    """The order as the contract prints it: ``{"order", "status", "total", "policies": [...]}``."""
    rows = [(p, p.person.psn_no) for p in order.policies]  # in memory for an order just placed
    return {
        "order": order.order_no,
        "status": order.status.value,
        "channel": order.channel.value,
        "total": to_yuan(order.total_fen),
        "policies": [
            {
                "policy_no": p.policy_no,
                "psn_no": psn_no,
                "relation": p.relation.value,
                "tier": p.tier,
                "premium": to_yuan(p.premium_fen),
                "status": p.status.value,
                "cover_start": p.cover_start.isoformat(),
                "cover_end": p.cover_end.isoformat(),
                "renew": p.renew,
            }
            for p, psn_no in rows
        ],
    }


def orders_of(*, session: Session, psn_no: str) -> list[dict[str, Any]]:
    """A resident's orders: those they paid for (their family's policies) and those holding their own."""
    me = session.scalars(sa.select(InsuredPerson).where(InsuredPerson.psn_no == psn_no)).one_or_none()
    if me is None:
        return []
    own = sa.select(Policy.order_id).where(Policy.person_id == me.id)
    orders = session.scalars(
        sa.select(PolicyOrder)
        .where(sa.or_(PolicyOrder.payer_id == me.id, PolicyOrder.id.in_(own)))
        .order_by(PolicyOrder.id.desc())
        .options(selectinload(PolicyOrder.policies).joinedload(Policy.person))
    ).all()
    return [order_view(session=session, order=o) for o in orders]


__all__ = ["Member", "PurchaseRefused", "buy", "check_eligibility", "order_view", "orders_of"]
