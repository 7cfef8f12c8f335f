"""Rows for the supervision figures written straight into a database: persons, policies, settlements with
their lines, claims and service cases, each with the dates a test wants (the services would stamp today)."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy.orm import Session

from huiminbao.claims.models import Claim, ClaimChannel, ClaimState
from huiminbao.enrollment.models import (
    Channel,
    InsuredPerson,
    OrderStatus,
    Policy,
    PolicyOrder,
    PolicyStatus,
    Relation,
)
from huiminbao.service.models import CaseCategory, CaseChannel, CaseKind, CaseStatus, ServiceCase
from huiminbao.settlement.models import Adjustment, Settlement, SettlementKind, SettlementLine, SettlementSource

_ids = itertools.count(1)


def person(
    s: Session, *, area: str = "371502", insutype: str = "390", birth: date = date(1980, 6, 1), tags: str = ""
) -> InsuredPerson:
    n = next(_ids)
    p = InsuredPerson(
        psn_no=f"F{n:08d}", certno_hash=f"h{n}", certno_enc=b"x", name_masked="张*", gender="1", birth_date=birth,
        insutype=insutype, insu_admdvs=area, populations=tags, content_hash=f"c{n}",
    )  # fmt: skip
    s.add(p)
    s.flush()
    return p


def policy(
    s: Session,
    p: InsuredPerson,
    *,
    plan: str = "liaocheng-2024",
    year: int = 2024,
    status: PolicyStatus = PolicyStatus.ACTIVE,
    status_date: date | None = None,
    paid_at: datetime = datetime(2023, 12, 1, 2, 0, tzinfo=UTC),
    premium: int = 8900,
) -> Policy:
    n = next(_ids)
    order = PolicyOrder(
        order_no=f"O{n}", plan_id=plan, payer_id=p.id, channel=Channel.COUNTER, status=OrderStatus.PAID,
        total_fen=premium, paid_at=paid_at,
    )  # fmt: skip
    s.add(order)
    s.flush()
    pol = Policy(
        policy_no=f"P{n}", order_id=order.id, plan_id=plan, person_id=p.id, tier="standard", relation=Relation.SELF,
        premium_fen=premium, status=status, status_date=status_date or paid_at.date(), cover_start=date(year, 1, 1),
        cover_end=date(year, 12, 31), verify_code=f"V{n}",
    )  # fmt: skip
    s.add(pol)
    s.flush()
    return pol


def settle(
    s: Session,
    pol: Policy,
    at: datetime,
    payouts: dict[str, int],
    *,
    source: SettlementSource = SettlementSource.API,
    refund: bool = False,
) -> Settlement:
    n = next(_ids)
    st = Settlement(
        setl_id=f"S{n}", hospital_code="H1", person_id=pol.person_id, plan_id=pol.plan_id, policy_id=pol.id,
        tier=pol.tier, kind=SettlementKind.REFUND if refund else SettlementKind.PAYMENT, source=source,
        setl_time=at, begndate=at.date(), status="covered", payout_fen=sum(payouts.values()), body_sha256="0" * 64,
        record="{}", response="{}",
    )  # fmt: skip
    st.lines = [
        SettlementLine(liability=k, base=0, counted=0, deductible_used=0, ratio=0, entitled=0, payout=v)
        for k, v in payouts.items()
    ]
    s.add(st)
    s.flush()
    return st


def claim(
    s: Session,
    pol: Policy,
    state: ClaimState,
    submitted: date,
    *,
    paid: date | None = None,
    due: date | None = None,
) -> Claim:
    n = next(_ids)
    c = Claim(
        claim_no=f"C{n}", person_id=pol.person_id, psn_no=f"F{pol.person_id}", plan_id=pol.plan_id, policy_id=pol.id,
        channel=ClaimChannel.ONLINE, filed_by="r", state=state, submitted_on=submitted, paid_on=paid, due_date=due,
        claimed_fen=0,
    )  # fmt: skip
    s.add(c)
    s.flush()
    return c


def case(
    s: Session,
    p: InsuredPerson | None,
    kind: CaseKind,
    category: CaseCategory,
    opened: date,
    *,
    due: date,
    closed: date | None = None,
    status: CaseStatus = CaseStatus.OPEN,
) -> ServiceCase:
    n = next(_ids)
    c = ServiceCase(
        case_no=f"K{n}", kind=kind, category=category, channel=CaseChannel.HOTLINE, person_id=p.id if p else None,
        subject="事由", text="内容", status=CaseStatus.CLOSED if closed else status, opened_by="clerk", opened_on=opened,
        due_date=due, closed_on=closed,
    )  # fmt: skip
    s.add(c)
    s.flush()
    return c


def demo_year(s: Session, *, people: int = 400, seed: int = 7) -> dict[str, Any]:
    """A small city's year in Liaocheng 2024, as the dashboards' screenshots show it: districts, ages and
    types of insurance, about half enrolled, settlements each month, claims in every state and complaints;
    plus one district of three people, whose cells the pages must show as "<10"."""
    import random

    rnd = random.Random(seed)
    areas = ["371502", "371502", "371503", "371521", "371522", "371525", "371581"]
    holders = []
    for i in range(people):
        birth = date(rnd.randint(1940, 2020), rnd.randint(1, 12), 1)
        tags = "veteran" if i % 25 == 0 else ("low_income" if i % 13 == 0 else "")
        p = person(s, area=rnd.choice(areas), insutype=rnd.choice(["310", "390", "390"]), birth=birth, tags=tags)
        draw = rnd.random()
        paid = datetime(2023, rnd.choice([10, 11, 12]), rnd.randint(1, 28), 3, tzinfo=UTC)
        if draw < 0.55:
            holders.append(policy(s, p, paid_at=paid))
        elif draw < 0.58:  # bought, then cancelled before cover began: refunded in full
            policy(s, p, paid_at=paid, status=PolicyStatus.REFUNDED, status_date=date(2023, 12, rnd.randint(1, 31)))
    for _ in range(3):
        policy(s, person(s, area="371526"))
    liabs = ["inpatient_inscope", "inpatient_inscope", "inpatient_outscope", "specific_drugs", "special_efficacy_drugs"]
    for pol in rnd.sample(holders, min(len(holders), 120)):
        for _ in range(rnd.randint(1, 3)):
            at = datetime(2024, rnd.randint(1, 11), rnd.randint(1, 28), 10)
            amount = int(rnd.lognormvariate(13, 1.1))  # fen: a few thousand yuan, some far more
            source = SettlementSource.CLAIM if rnd.random() < 0.2 else SettlementSource.API
            settle(s, pol, at, {rnd.choice(liabs): amount}, source=source)
    for pol in rnd.sample(holders, min(len(holders), 40)):  # year-end: a top-up or a recovery
        amount = rnd.choice([1, 1, -1]) * rnd.randint(1_000, 300_000)
        s.add(Adjustment(plan_id=pol.plan_id, person_id=pol.person_id, liability=rnd.choice(liabs), amount_fen=amount,
                         paid_fen=0, due_fen=amount))  # fmt: skip
    states = list(ClaimState)
    for i, pol in enumerate(rnd.sample(holders, min(len(holders), 60))):
        submitted = date(2024, rnd.randint(2, 10), rnd.randint(1, 25))
        state = ClaimState.PAID if i % 3 else states[i % len(states)]
        paid = date.fromordinal(submitted.toordinal() + rnd.randint(2, 16)) if state == ClaimState.PAID else None
        due = date.fromordinal(submitted.toordinal() + 10)
        claim(s, pol, state, submitted, paid=paid, due=due)
    cats = list(CaseCategory)
    for i in range(45):
        opened = date(2024, rnd.randint(1, 11), rnd.randint(1, 28))
        closed = date.fromordinal(opened.toordinal() + rnd.randint(1, 20)) if i % 4 else None
        kind = CaseKind.COMPLAINT if i % 3 else CaseKind.INQUIRY
        case(s, s.get(InsuredPerson, holders[i].person_id), kind, rnd.choice(cats), opened, due=date(2024, 12, 31),
             closed=closed)  # fmt: skip
    return {"holders": len(holders)}


def late_settlements(s: Session, *, plan: str = "liaocheng-2024") -> None:
    """Stays paid one or two months after the month of care (January to September), so that the plan-year's
    paid triangle develops and the chain ladder has IBNR to project for the latest months."""
    import sqlalchemy as sa

    policies = s.scalars(
        sa.select(Policy).where(Policy.plan_id == plan, Policy.status == PolicyStatus.ACTIVE).limit(18)
    ).all()
    for i, pol in enumerate(policies):
        care, lag = 1 + i % 9, 1 + i % 2
        st = settle(s, pol, datetime(2024, care + lag, 15, 10), {"inpatient_inscope": 300_000 + 25_000 * i})
        st.begndate = date(2024, care, 10)
    s.flush()
