"""The demo's claims (``hmb db load-demo``): bureau records kept for a share of the demo city's stays,
and claims filed on them and driven through every state, so that each page of the review has something
to show.

Everything goes through the claims services, as residents online, a clerk at the counter, adjusters
and finance would, each call dated (``today``) on a day of the plan year a few days after the stay,
walking forward in time up to the plan year's last day (``as_of``): serve the demo with
``HMB_TODAY=<as_of>`` to see the clocks as the demo left them, some claims past due. The choice of stays
and of what happens to each claim is seeded, and all of it is one transaction that is skipped when the
demo's users have filed claims on the plan already, so loading the demo twice adds nothing (even though
a second ``load-demo`` enrolls more of the roster, which would change the choice).

The plan's deductibles are high, so most stays alone pay nothing: the persons with the largest
in-hospital personal shares have all their stays claimed in order, so that their later claims pay
through the accumulators and can be put into payment batches and paid.
"""

from __future__ import annotations

import io
import json
import random
import secrets
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from huiminbao.claims import review
from huiminbao.claims.bureau import record_bodies
from huiminbao.claims.models import BureauRecord, Claim, ClaimChannel, ClaimState, DocumentKind, RejectReason
from huiminbao.claims.review import Decision
from huiminbao.claims.service import ClaimRefused, add_document, file_claim, move
from huiminbao.enrollment.models import InsuredPerson, Policy
from huiminbao.identity import audit
from huiminbao.identity.models import Role, User
from huiminbao.identity.service import create_user
from huiminbao.plans import compiled_plan
from huiminbao.settlement.onestop import COVERING
from huiminbao.vocabulary import REFUND_FLAG

S = ClaimState
PREFIX = "demo-"  # the demo's user names: their claims mark the demo as loaded
STAFF = {
    f"{PREFIX}clerk": Role.CLERK,
    f"{PREFIX}adjuster-1": Role.ADJUSTER,
    f"{PREFIX}adjuster-2": Role.ADJUSTER,
    f"{PREFIX}finance": Role.FINANCE,
}
RESIDENTS = 20  # residents with their own demo account (each costs an argon2 hash); the rest go to the counter
HEAVY = 10  # persons with the largest in-hospital personal shares: all their stays claimed, in order
OPEN_TAIL = 0.1  # the share of claims, the latest filed, left open at ``as_of``
CLOSED = ("approve", "approve", "docs", "reject", "approve", "withdraw", "partly")  # what the others end as


@dataclass(frozen=True)
class Docs:
    """Where documents go and the settings' limits."""

    root: Path
    max_bytes: int
    per_claim: int


@dataclass
class Plan:
    """One claim to file: the person, the stays, the day, the channel and what happens to it."""

    psn_no: str
    setl_ids: list[str]
    filed_on: date
    out_of_area: bool
    heavy: bool
    fate: str = "approve"
    online: bool = False


@dataclass
class DemoClaims:
    records: int = 0  # bureau records newly kept
    filed: int = 0
    payable: int = 0  # approved claims that pay something
    states: Counter[ClaimState] = field(default_factory=Counter)  # the plan's claims, all runs


def load_claims(
    *,
    session: Session,
    plan_id: str,
    bodies: Sequence[Mapping[str, Any]],
    docs: Docs,
    seed: int = 2024,
    stays: int = 300,
) -> DemoClaims:
    """Keep ``stays`` of the city's bodies (out-of-area ones, the heavy persons' and a sample) as the
    bureau's records and file and drive the demo's claims on them. Never commits."""
    compiled = compiled_plan(plan_id)
    as_of = compiled.plan.cover_end
    lead = compiled.plan.consortium.lead
    insurer = lead.insurer_code if lead else compiled.plan.consortium.members[0].insurer_code
    rng = random.Random(seed)
    holders = set(
        session.scalars(
            sa.select(InsuredPerson.psn_no)
            .join(Policy, Policy.person_id == InsuredPerson.id)
            .where(Policy.plan_id == plan_id, Policy.status.in_(COVERING))
        )
    )
    result = DemoClaims()
    ours = sa.select(Claim.id).where(Claim.plan_id == plan_id, Claim.filed_by.startswith(PREFIX)).limit(1)
    chosen = {} if session.scalar(ours) is not None else _choose(bodies, holders, rng, stays)
    if not chosen:  # loaded before (the roster's holders may have grown since: the choice would differ)
        result.states = _states(session, plan_id)
        return result
    kept = record_bodies(session=session, actor=audit.CLI, bodies=[b for b, _ in chosen.values()])
    result.records = kept.stored
    records = {
        r.setl_id: r for r in session.scalars(sa.select(BureauRecord).where(BureauRecord.setl_id.in_(list(chosen))))
    }
    plans = _plans(records, {k for k, (_, heavy) in chosen.items() if heavy}, rng, as_of)
    users = _users(session, insurer, sorted({p.psn_no for p in plans if p.online}))
    for p in plans:
        if _drive(session, p, users, records, docs, as_of, result):
            result.filed += 1
    result.states = _states(session, plan_id)
    return result


def _states(session: Session, plan_id: str) -> Counter[ClaimState]:
    rows = session.execute(
        sa.select(Claim.state, sa.func.count()).where(Claim.plan_id == plan_id).group_by(Claim.state)
    ).all()
    return Counter({state: n for state, n in rows})


def _choose(
    bodies: Sequence[Mapping[str, Any]], holders: set[str], rng: random.Random, limit: int
) -> dict[str, tuple[Mapping[str, Any], bool]]:
    """setl_id -> (body, of a heavy person): the policy holders' stays that were not refunded."""
    refunded = {
        str(b["setlinfo"].get("init_setl_id"))
        for b in bodies
        if str(b["setlinfo"].get("refd_setl_flag")) == REFUND_FLAG
    }
    usable = sorted(
        (
            b
            for b in bodies
            if str(b["setlinfo"].get("psn_no")) in holders
            and str(b["setlinfo"].get("refd_setl_flag")) != REFUND_FLAG
            and str(b["setlinfo"]["setl_id"]) not in refunded
        ),
        key=lambda b: str(b["setlinfo"]["setl_id"]),
    )
    inpatient: Counter[str] = Counter()
    for b in usable:
        if str(b["setlinfo"].get("med_type", "")).startswith("2"):
            inpatient[str(b["setlinfo"]["psn_no"])] += _fen(b["setlinfo"].get("psn_part_amt"))
    heavy = {psn for psn, _ in inpatient.most_common(HEAVY)}
    out: dict[str, tuple[Mapping[str, Any], bool]] = {}
    for b in usable:
        if str(b["setlinfo"]["psn_no"]) in heavy:
            out[str(b["setlinfo"]["setl_id"])] = (b, True)
    away = [b for b in usable if _away(b) and str(b["setlinfo"]["setl_id"]) not in out]
    for b in rng.sample(away, min(len(away), limit // 3)):
        out[str(b["setlinfo"]["setl_id"])] = (b, False)
    rest = [b for b in usable if str(b["setlinfo"]["setl_id"]) not in out]
    for b in rng.sample(rest, max(0, min(len(rest), limit - len(out)))):
        out[str(b["setlinfo"]["setl_id"])] = (b, False)
    return out


def _away(body: Mapping[str, Any]) -> bool:
    info = body["setlinfo"]
    return bool(info.get("mdtrt_area_admvs")) and info.get("mdtrt_area_admvs") != info.get("insu_admdvs")


def _fen(yuan: Any) -> int:
    return round(float(yuan or 0) * 100)


def _plans(records: Mapping[str, BureauRecord], heavy: set[str], rng: random.Random, as_of: date) -> list[Plan]:
    """The claims to file: a heavy person's stays one claim each; others alone or, now and then, two of a
    person's stays on one claim (so that one can be refused and the claim partly approved)."""
    by_person: dict[int, list[BureauRecord]] = defaultdict(list)
    for r in sorted(records.values(), key=lambda r: (r.setl_time, r.setl_id)):
        by_person[r.person_id].append(r)
    psn = {r.person_id: _psn(r) for r in records.values()}
    plans: list[Plan] = []
    for person_id in sorted(by_person):
        mine = by_person[person_id]
        groups = [[r] for r in mine] if mine[0].setl_id in heavy else _paired(mine, rng)
        for g in groups:
            filed = g[-1].setl_time.date() + timedelta(days=rng.randint(2, 8))
            if filed <= as_of:
                plans.append(
                    Plan(psn[person_id], [r.setl_id for r in g], filed, any(r.out_of_area for r in g), g[0].setl_id in heavy)
                )  # fmt: skip
    plans.sort(key=lambda p: (p.filed_on, p.setl_ids[0]))
    tail = max(3, round(len(plans) * OPEN_TAIL))
    opened = ("submitted", "in_review", "docs_requested")
    online = {p.psn_no for p in plans[:: max(1, len(plans) // RESIDENTS)][:RESIDENTS]}
    for i, p in enumerate(plans):
        p.online = p.psn_no in online
        if p.heavy:
            continue
        if i >= len(plans) - tail or i % 23 == 11:  # the latest, and a few long overdue
            p.fate = opened[i % 3]
        elif len(p.setl_ids) > 1:
            p.fate = "partly" if i % 2 else "approve"
        else:
            p.fate = CLOSED[i % len(CLOSED)] if CLOSED[i % len(CLOSED)] != "partly" else "reject"
    return plans


def _psn(r: BureauRecord) -> str:
    return str(json.loads(r.record)["setlinfo"]["psn_no"])


def _paired(mine: list[BureauRecord], rng: random.Random) -> list[list[BureauRecord]]:
    out: list[list[BureauRecord]] = []
    i = 0
    while i < len(mine):
        if i + 1 < len(mine) and rng.random() < 0.4:
            out.append(mine[i : i + 2])
            i += 2
        else:
            out.append([mine[i]])
            i += 1
    return out


def _users(session: Session, insurer: str, residents: list[str]) -> dict[str, User]:
    """The demo's staff and resident accounts, made once (with random passwords: set one to sign in)."""
    wanted = {name: (role, None) for name, role in STAFF.items()}
    wanted |= {f"{PREFIX}resident-{psn[-6:]}": (Role.RESIDENT, psn) for psn in residents}
    have = {u.username: u for u in session.scalars(sa.select(User).where(User.username.in_(list(wanted))))}
    for name, (role, psn) in wanted.items():
        if name not in have:
            have[name] = create_user(
                session=session, actor=audit.CLI, username=name, role=role, password=secrets.token_urlsafe(18) + "a1",
                psn_no=psn, insurer_code=None if psn else insurer,
            )  # fmt: skip
    return {(u.psn_no or name): u for name, u in have.items()}


def _drive(
    session: Session,
    p: Plan,
    users: Mapping[str, User],
    records: Mapping[str, BureauRecord],
    docs: Docs,
    as_of: date,
    result: DemoClaims,
) -> bool:
    """File the claim and take it as far as its fate says, each step on its own day (none after ``as_of``)."""
    filer = users.get(p.psn_no) if p.online else users[f"{PREFIX}clerk"]
    assert filer is not None
    adj = users[f"{PREFIX}adjuster-{int(p.setl_ids[0][-1]) % 2 + 1}"]
    fin = users[f"{PREFIX}finance"]
    try:
        with session.begin_nested():
            claim = file_claim(
                session=session, user=filer, actor=_actor(filer), psn_no=p.psn_no, setl_ids=p.setl_ids,
                channel=ClaimChannel.ONLINE if p.online else ClaimChannel.COUNTER, today=p.filed_on,
            )  # fmt: skip
            for s in p.setl_ids:
                _document(session, claim, filer, DocumentKind.INVOICE, records[s], docs)
    except ClaimRefused:
        return False
    day = p.filed_on

    def step(days: int, act: Callable[[date], None]) -> bool:
        nonlocal day
        if day + timedelta(days=days) > as_of:
            return False
        day += timedelta(days=days)
        act(day)
        return True

    if p.fate == "submitted":
        return True
    if p.fate == "withdraw":
        step(2, lambda d: move(session=session, claim=claim, to=S.WITHDRAWN, actor=_actor(filer), today=d, reason="已自行协商解决"))  # fmt: skip
        return True
    if not step(1, lambda d: review.take(session=session, claim=claim, user=adj, actor=_actor(adj), today=d)):
        return True
    if p.fate in ("docs", "docs_requested"):
        what = "出院小结"
        if not step(1, lambda d: review.request_documents(session=session, claim=claim, user=adj, actor=_actor(adj), what=what, today=d)):  # fmt: skip
            return True
        if p.fate == "docs_requested":
            return True

        def supply(d: date) -> None:
            _document(session, claim, filer, DocumentKind.DISCHARGE_SUMMARY, records[p.setl_ids[0]], docs)
            review.supply_documents(session=session, claim=claim, actor=_actor(filer), today=d)

        if not step(3, supply):
            return True
    if p.fate == "in_review":
        return True
    step(2, lambda d: _decide(session, claim, adj, p.fate, d))
    if claim.state in (S.APPROVED, S.PARTLY_APPROVED) and claim.payout_fen:
        n, result.payable = result.payable % 3, result.payable + 1  # paid, instructed, left approved, ...
        instructed = n < 2 and step(
            3, lambda d: review.instruct_payment(session=session, claims=[claim], actor=_actor(fin), today=d)
        )
        if instructed and n == 0:
            ref = f"DEMO{claim.id:08d}"
            step(2, lambda d: review.mark_paid(session=session, claim=claim, actor=_actor(fin), today=d, reference=ref))
    return True


def _decide(session: Session, claim: Claim, adj: User, fate: str, today: date) -> None:
    """Approve (out-of-area stays with the filing proof seen), refuse, or approve the first stay and refuse
    the other; a stay the engine will not pay is refused with the reason instead."""
    items = [i.setl_id for i in claim.items]
    if fate == "reject":
        decisions = {s: Decision(False, RejectReason.NOT_COVERED) for s in items}
    else:
        decisions = {s: Decision(True, filing_confirmed=True) for s in items}
        if fate == "partly" and len(items) > 1:
            decisions[items[-1]] = Decision(False, RejectReason.DOCUMENTS_INVALID)
    for _ in items:
        try:
            with session.begin_nested():
                review.decide(session=session, claim=claim, user=adj, actor=_actor(adj), decisions=decisions, today=today)  # fmt: skip
            return
        except ClaimRefused as exc:
            session.refresh(claim)
            refused = (exc.field or "").removeprefix("decisions.")
            if refused not in decisions or not decisions[refused].approve:
                raise
            decisions[refused] = Decision(False, RejectReason.NOT_COVERED, note=exc.message)
    review.decide(session=session, claim=claim, user=adj, actor=_actor(adj), decisions=decisions, today=today)


def _document(session: Session, claim: Claim, by: User, kind: DocumentKind, record: BureauRecord, docs: Docs) -> None:
    """A small real document: the invoice as a PNG, a discharge summary as a PDF."""
    if kind is DocumentKind.INVOICE:
        data, name = _png(record), f"invoice-{record.setl_id}.png"
    else:
        data, name = _pdf(record), f"discharge-{record.setl_id}.pdf"
    add_document(
        session=session, claim=claim, actor=_actor(by), kind=kind, data=data, filename=name, root=docs.root,
        max_bytes=docs.max_bytes, per_claim=docs.per_claim,
    )  # fmt: skip


def _png(record: BureauRecord) -> bytes:
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (360, 120), "white")
    draw = ImageDraw.Draw(img)
    draw.rectangle((4, 4, 355, 115), outline="black")
    draw.text((14, 14), "INVOICE (demo)", fill="black")
    draw.text((14, 44), f"setl_id {record.setl_id}", fill="black")
    draw.text((14, 74), f"total {record.medfee_sumamt_fen / 100:.2f}  self {record.psn_part_amt_fen / 100:.2f}", fill="black")  # fmt: skip
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


def _pdf(record: BureauRecord) -> bytes:
    from reportlab.lib.pagesizes import A5
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    out = io.BytesIO()
    page = canvas.Canvas(out, pagesize=A5, invariant=1)  # invariant: the same record, the same bytes
    page.setFont("STSong-Light", 14)
    page.drawString(40, 500, "出院小结（演示）")
    page.setFont("STSong-Light", 10)
    page.drawString(40, 470, f"结算 {record.setl_id}")
    page.drawString(40, 450, f"入院 {record.begndate}  出院 {record.enddate or ''}")
    page.showPage()
    page.save()
    return out.getvalue()


def _actor(u: User) -> audit.Actor:
    return audit.Actor(u.username, u.role.value)
