"""Filing a claim and moving it through its states.

A claim is filed for one insured person by themselves, by the family member who paid their policy, or
by a clerk at the counter. The stays come from the bureau's records of that person (``stays``); a stay
already paid one-stop, or held by another claim, cannot be picked, and the refusal says which
settlement or claim has it. Every change of state goes through ``move``: the transition table allows
it or refuses it, the change is recorded with who and why, the clock is set again, the audit log gets
an entry and the resident a notification, all in the caller's transaction. Functions never commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import Session

from huiminbao.calendar import default_calendar
from huiminbao.claims import clock, documents
from huiminbao.claims.models import (
    BureauRecord,
    Claim,
    ClaimChannel,
    ClaimDocument,
    ClaimItem,
    ClaimState,
    ClaimTransition,
    DocumentKind,
    ItemDecision,
    RejectReason,
)
from huiminbao.claims.states import OPEN, REASON_TEXT, STATE_NAMES, IllegalTransition, check
from huiminbao.enrollment.models import InsuredPerson, Policy
from huiminbao.enrollment.policies import family
from huiminbao.identity import audit
from huiminbao.identity.models import Role, User
from huiminbao.money import to_yuan
from huiminbao.notify.outbox import enqueue
from huiminbao.settlement.models import Settlement, SettlementSource
from huiminbao.settlement.onestop import COVERING, SettlementRefused, policy_on

S = ClaimState


class ClaimRefused(Exception):
    """A claim action the platform will not take: HTTP status, code, Chinese message, field."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None):
        self.status, self.code, self.message, self.field = status, code, message, field
        super().__init__(message)


@dataclass(frozen=True)
class Stay:
    """A bureau record of the person, and whether it can be claimed (``taken_by`` says why not)."""

    record: BureauRecord
    taken_by: str | None  # "一站式结算" / "理赔申请 LP…": who has it


def get_claim_or_raise(*, session: Session, claim_no: str) -> Claim:
    found = session.scalars(sa.select(Claim).where(Claim.claim_no == claim_no)).one_or_none()
    if found is None:
        raise ClaimRefused(404, "claim_not_found", f"没有理赔申请 {claim_no}", "claim_no")
    return found


def may_act_for(*, session: Session, user: User, person: InsuredPerson) -> bool:
    """A resident for themselves and their family; counter clerks and adjusters for anyone."""
    if user.role is Role.RESIDENT:
        return user.psn_no is not None and person.id in family(session=session, psn_no=user.psn_no).values()
    return user.role in (Role.CLERK, Role.ADJUSTER, Role.ADMIN)


def may_see(*, session: Session, user: User, claim: Claim) -> bool:
    if user.role is Role.RESIDENT:
        return user.psn_no is not None and claim.person_id in family(session=session, psn_no=user.psn_no).values()
    return user.role in (Role.CLERK, Role.ADJUSTER, Role.FINANCE, Role.SUPERVISOR, Role.ADMIN)


def stays(*, session: Session, person: InsuredPerson, start: date, end: date) -> list[Stay]:
    """The person's bureau records settled between ``start`` and ``end`` (inclusive), newest first."""
    records = session.scalars(
        sa.select(BureauRecord)
        .where(
            BureauRecord.person_id == person.id,
            BureauRecord.begndate >= start,
            BureauRecord.begndate <= end,
        )
        .order_by(BureauRecord.setl_time.desc())
    ).all()
    taken = _taken(session, [r.setl_id for r in records])
    return [Stay(r, taken.get(r.setl_id)) for r in records]


def _taken(session: Session, setl_ids: Sequence[str]) -> dict[str, str]:
    """Which of these settlements are already paid (one-stop or on a claim) or held by an open claim."""
    out: dict[str, str] = {}
    for setl_id, source, payout in session.execute(
        sa.select(Settlement.setl_id, Settlement.source, Settlement.payout_fen).where(Settlement.setl_id.in_(setl_ids))
    ):
        if source is not SettlementSource.CLAIM:
            out[setl_id] = f"已一站式结算，惠民保赔付 {to_yuan(payout)} 元"
    for setl_id, claim_no in session.execute(
        sa.select(ClaimItem.setl_id, Claim.claim_no)
        .join(Claim, Claim.id == ClaimItem.claim_id)
        .where(ClaimItem.setl_id.in_(setl_ids), ClaimItem.active)
    ):
        out[setl_id] = f"已在理赔申请 {claim_no} 中"
    return out


def file_claim(
    *,
    session: Session,
    user: User,
    actor: audit.Actor,
    psn_no: str,
    setl_ids: Sequence[str],
    channel: ClaimChannel,
    today: date,
) -> Claim:
    """File a claim for ``psn_no`` on the picked stays; refuses the whole claim, naming the stay, when
    one of them cannot be claimed."""
    person = session.scalars(sa.select(InsuredPerson).where(InsuredPerson.psn_no == psn_no)).one_or_none()
    if person is None or not may_act_for(session=session, user=user, person=person):
        raise ClaimRefused(404, "person_not_found", f"没有可代为申请的参保人 {psn_no}", "psn_no")
    wanted = list(dict.fromkeys(setl_ids))
    if not wanted:
        raise ClaimRefused(422, "no_stays", "请至少选择一次就医结算记录", "setl_ids")
    records = {
        r.setl_id: r
        for r in session.scalars(
            sa.select(BureauRecord).where(BureauRecord.setl_id.in_(wanted), BureauRecord.person_id == person.id)
        )
    }
    for setl_id in wanted:
        if setl_id not in records:
            raise ClaimRefused(422, "unknown_stay", f"医保结算记录中没有此人的结算 {setl_id}", "setl_ids")
    taken = _taken(session, wanted)
    for setl_id in wanted:
        if setl_id in taken:
            raise ClaimRefused(409, "already_claimed", f"结算 {setl_id} {taken[setl_id]}，不能再次申请", "setl_ids")
    held = list(
        session.scalars(
            sa.select(Policy)
            .where(Policy.person_id == person.id, Policy.status.in_(COVERING))
            .order_by(Policy.cover_start.desc())
        )
    )
    policies: dict[str, Policy] = {}
    for setl_id in wanted:
        try:
            policies[setl_id] = policy_on(held, person, records[setl_id].begndate)
        except SettlementRefused as exc:
            raise ClaimRefused(422, exc.code, f"结算 {setl_id}：{exc.message}", "setl_ids") from None
    plans = {p.plan_id for p in policies.values()}
    if len(plans) > 1:
        raise ClaimRefused(
            422, "mixed_plans", f"所选结算属于不同保障年度（{'、'.join(sorted(plans))}），请分别申请", "setl_ids"
        )
    policy = policies[wanted[0]]
    claim = Claim(
        person_id=person.id, psn_no=person.psn_no, plan_id=policy.plan_id, policy_id=policy.id, channel=channel,
        filed_by=user.username, filed_by_psn_no=user.psn_no if user.role is Role.RESIDENT else None,
        state=S.SUBMITTED, submitted_on=today,
        claimed_fen=sum(records[s].psn_part_amt_fen for s in wanted),
        items=[ClaimItem(bureau_record_id=records[s].id, setl_id=s) for s in wanted],
    )  # fmt: skip
    session.add(claim)
    session.flush()  # a stay another claim took a moment ago fails here on the unique index: IntegrityError
    claim.claim_no = f"LP{today:%Y%m%d}{claim.id:08d}"
    _record(session, claim, None, S.SUBMITTED, actor, None, today)
    _retime(claim, S.SUBMITTED)
    _notify(session, claim, S.SUBMITTED, f"已收到您的理赔申请 {claim.claim_no}，将于 {claim.due_date} 前办结")
    return claim


def move(
    *,
    session: Session,
    claim: Claim,
    to: ClaimState,
    actor: audit.Actor,
    today: date,
    reason: str | None = None,
) -> None:
    """Change the claim's state as the transition table allows; record, audit, re-time and notify."""
    try:
        check(claim.state, to)
    except IllegalTransition as exc:
        raise ClaimRefused(409, "illegal_transition", str(exc), "state") from None
    before = claim.state
    _record(session, claim, before, to, actor, reason, today)
    claim.state = to
    if to is S.DOCUMENTS_REQUESTED:
        claim.paused_since, claim.requested = today, reason
    elif before is S.DOCUMENTS_REQUESTED:
        claim.paused_since = None
    _retime(claim, to)
    if to not in OPEN:
        claim.locked_by = claim.locked_until = None
        if to in (S.REJECTED, S.WITHDRAWN):
            for item in claim.items:
                item.active = False
    _notify(session, claim, to, _message(claim, to, reason))


def _retime(claim: Claim, state: ClaimState) -> None:
    """The due date for the claim entering ``state``, from its transitions so far (their pauses)."""
    if state is S.DOCUMENTS_REQUESTED or state not in OPEN:
        claim.due_date = None  # paused, or decided: off the clock
    else:
        days = clock.claim_days(claim.plan_id)
        claim.due_date = clock.due_date(default_calendar(), claim, list(claim.transitions), days)


def reject(
    *, session: Session, claim: Claim, actor: audit.Actor, code: RejectReason, note: str | None, today: date
) -> None:
    """Refuse the whole claim with a reason code (and a note, required for ``other``)."""
    if code is RejectReason.OTHER and not (note or "").strip():
        raise ClaimRefused(422, "reason_required", "选择「其他原因」时请写明理由", "note")
    claim.reason_code, claim.reason, claim.decided_on, claim.payout_fen = code, (note or "").strip() or None, today, 0
    for item in claim.items:
        item.decision, item.reason_code = ItemDecision.REJECTED, code
    move(session=session, claim=claim, to=S.REJECTED, actor=actor, today=today, reason=reason_text(claim))


def reason_text(claim: Claim) -> str | None:
    if claim.reason_code is None:
        return None
    words = REASON_TEXT[claim.reason_code]
    return f"{words}：{claim.reason}" if claim.reason else words


def _record(
    session: Session,
    claim: Claim,
    before: ClaimState | None,
    to: ClaimState,
    actor: audit.Actor,
    reason: str | None,
    today: date,
) -> None:
    claim.transitions.append(
        ClaimTransition(from_state=before, to_state=to, on=today, actor=actor.name, role=actor.role, reason=reason)
    )
    audit.record(
        session=session, actor=actor, action=f"claim.{to.value}", entity="claim", entity_id=claim.claim_no or "",
        before={"state": before.value} if before is not None else None,
        after={"state": to.value, "reason": reason},
    )  # fmt: skip


def _message(claim: Claim, to: ClaimState, reason: str | None) -> str:
    head = f"您的理赔申请 {claim.claim_no} {STATE_NAMES[to]}"
    if to is S.DOCUMENTS_REQUESTED:
        return f"{head}：请补充 {reason or '材料'}，补齐后继续计算办理时限"
    if to in (S.APPROVED, S.PARTLY_APPROVED) and claim.payout_fen is not None:
        return f"{head}，核定赔付 {to_yuan(claim.payout_fen)} 元，可查看赔付明细"
    if to is S.PAID and claim.payout_fen is not None:
        return f"{head}，{to_yuan(claim.payout_fen)} 元已支付"
    if to is S.REJECTED:
        return f"{head}：{reason or ''}"
    return head


def _notify(session: Session, claim: Claim, to: ClaimState, body: str) -> None:
    enqueue(
        session=session, event=f"claim.{to.value}", dedupe_key=f"claim:{claim.claim_no}:{to.value}:{len(claim.transitions)}",
        psn_no=claim.psn_no, subject=f"理赔申请 {claim.claim_no}", body=body,
    )  # fmt: skip


def add_document(
    *,
    session: Session,
    claim: Claim,
    actor: audit.Actor,
    kind: DocumentKind,
    data: bytes,
    filename: str,
    root: Path,
    max_bytes: int,
    per_claim: int,
) -> ClaimDocument:
    """Keep a document of an open claim (content-checked, stored by its SHA-256 outside the database)."""
    if claim.state not in OPEN:
        raise ClaimRefused(
            409, "claim_closed", f"理赔申请 {claim.claim_no} 已{STATE_NAMES[claim.state]}，不能再上传材料", "file"
        )
    if len(claim.documents) >= per_claim:
        raise ClaimRefused(422, "too_many_documents", f"每个理赔申请最多上传 {per_claim} 份材料", "file")
    try:
        stored = documents.store(data, root=root, max_bytes=max_bytes)
    except documents.DocumentRejected as exc:
        raise ClaimRefused(422, exc.code, exc.message, exc.field) from None
    doc = ClaimDocument(
        kind=kind, sha256=stored.sha256, media_type=str(stored.media_type), size=stored.size,
        filename=documents.safe_filename(filename), uploaded_by=actor.name,
    )  # fmt: skip
    claim.documents.append(doc)
    session.flush()
    audit.record(
        session=session, actor=actor, action="claim.document", entity="claim", entity_id=claim.claim_no or "",
        after={"kind": kind.value, "sha256": stored.sha256, "size": stored.size, "media_type": doc.media_type},
    )  # fmt: skip
    return doc
