"""The adjuster's side of a claim: take it (a lock), ask for documents, decide, and pay.

Two adjusters never decide the same claim: taking a claim sets ``locked_by`` with one conditional
UPDATE that succeeds only when nobody else holds an unexpired lock, and deciding requires holding it;
the claim's ``version`` column makes a second write from a stale copy fail as well.

The payout is not computed here. An approved stay is settled by ``settlement.onestop.settle_many``, the
one-stop path itself, with the person's stored accumulators, under the person's policy lock, in the
caller's transaction: the settlement, its lines and the accumulators are written with the decision, or
nothing is. The preview an adjuster sees before deciding is the same call inside a savepoint that is
rolled back, so it is exactly what approving would pay now.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from huiminbao.claims.models import Claim, ClaimItem, ClaimState, ItemDecision, RejectReason
from huiminbao.claims.service import ClaimRefused, move, reject
from huiminbao.db.base import utcnow
from huiminbao.identity import audit
from huiminbao.identity.models import User
from huiminbao.settings import get_settings
from huiminbao.settlement.models import Settlement, SettlementSource
from huiminbao.settlement.onestop import Answer, Item, SettlementRefused, settle_many
from huiminbao.settlement.reader import RecordError

S = ClaimState


@dataclass(frozen=True)
class Decision:
    """The adjuster's word on one stay: pay it (``filing_confirmed``: the out-of-area filing proof was
    seen), or refuse it with a reason code."""

    approve: bool
    reason_code: RejectReason | None = None
    note: str | None = None
    filing_confirmed: bool = False


def take(*, session: Session, claim: Claim, user: User, actor: audit.Actor, today: date) -> None:
    """Lock the claim for this adjuster (and assign it); a submitted claim goes into review."""
    now = utcnow()
    until = now + timedelta(minutes=get_settings().claim_lock_minutes)
    took = session.execute(
        sa.update(Claim)
        .where(
            Claim.id == claim.id,
            sa.or_(Claim.locked_by.is_(None), Claim.locked_by == user.username, Claim.locked_until < now),
        )
        .values(locked_by=user.username, locked_until=until, assignee=user.username, version=Claim.version + 1)
        .execution_options(synchronize_session=False)
    ).rowcount
    session.refresh(claim)
    if not took:
        raise ClaimRefused(409, "claim_locked", f"理赔申请 {claim.claim_no} 正由 {claim.locked_by} 审核", "claim_no")
    if claim.state is S.SUBMITTED:
        move(session=session, claim=claim, to=S.IN_REVIEW, actor=actor, today=today, reason="开始审核")


def release(*, session: Session, claim: Claim, user: User) -> None:
    _hold(claim, user)
    claim.locked_by = claim.locked_until = None


def _hold(claim: Claim, user: User) -> None:
    now = utcnow()
    if claim.locked_by != user.username or claim.locked_until is None or claim.locked_until < now:
        raise ClaimRefused(409, "claim_not_taken", f"请先领取理赔申请 {claim.claim_no} 再审核", "claim_no")


def request_documents(
    *, session: Session, claim: Claim, user: User, actor: audit.Actor, what: str, today: date
) -> None:
    """Ask the claimant for documents: the clock pauses until they are supplied."""
    if not what.strip():
        raise ClaimRefused(422, "what_required", "请写明需要补充的材料", "what")
    _hold(claim, user)
    move(session=session, claim=claim, to=S.DOCUMENTS_REQUESTED, actor=actor, today=today, reason=what.strip())


def supply_documents(*, session: Session, claim: Claim, actor: audit.Actor, today: date) -> None:
    """The claimant says the requested documents are uploaded: back to review, the clock runs again."""
    session.flush()
    asked = max((t.at for t in claim.transitions if t.to_state is S.DOCUMENTS_REQUESTED), default=None)
    if not any(asked is None or d.uploaded_at > asked for d in claim.documents):
        raise ClaimRefused(422, "no_new_documents", "请先上传所需补充的材料", "documents")
    move(session=session, claim=claim, to=S.IN_REVIEW, actor=actor, today=today, reason="已补充材料")


def preview(*, session: Session, claim: Claim, decisions: Mapping[str, Decision] | None = None) -> dict[str, Any]:
    """What approving would pay now, stay by stay (the one-stop answers), without keeping anything.

    The claim's row is written (unchanged) before the savepoint: SQLite then holds the write lock from the
    start, where a savepoint begun by reads could not take it later once another writer had committed."""
    session.execute(sa.update(Claim).where(Claim.id == claim.id).values(version=Claim.version))
    nested = session.begin_nested()
    try:
        paid = _settle(session, claim, decisions or {i.setl_id: Decision(True) for i in claim.items}, _SYSTEM)
        return {setl_id: json.loads(a.body) for setl_id, a in paid.items()}
    finally:
        nested.rollback()


_SYSTEM = audit.Actor("claims-preview", "system")


def decide(
    *,
    session: Session,
    claim: Claim,
    user: User,
    actor: audit.Actor,
    decisions: Mapping[str, Decision],
    today: date,
    note: str | None = None,
) -> None:
    """Approve, partly approve or reject the claim stay by stay; approved stays are paid at once through
    the one-stop path with the person's accumulators, in this transaction."""
    _hold(claim, user)
    if claim.state is not S.IN_REVIEW:
        raise ClaimRefused(409, "illegal_transition", f"理赔申请 {claim.claim_no} 不在审核中", "state")
    missing = [i.setl_id for i in claim.items if i.setl_id not in decisions]
    if missing:
        raise ClaimRefused(422, "decision_missing", f"请对结算 {missing[0]} 作出核定", f"decisions.{missing[0]}")
    for setl_id, d in decisions.items():
        if not d.approve and d.reason_code is None:
            raise ClaimRefused(422, "reason_required", f"不予赔付结算 {setl_id} 须选择原因", f"decisions.{setl_id}")
        if d.reason_code is RejectReason.OTHER and not (d.note or "").strip():
            raise ClaimRefused(
                422, "reason_required", f"结算 {setl_id} 选择「其他原因」时请写明理由", f"decisions.{setl_id}"
            )
    approved = [i for i in claim.items if decisions[i.setl_id].approve]
    if not approved:
        first = decisions[claim.items[0].setl_id]
        reject(session=session, claim=claim, actor=actor, code=first.reason_code or RejectReason.OTHER, note=first.note or note, today=today)  # fmt: skip
        _decide_items(claim, decisions, {})
        return
    paid = _settle(session, claim, decisions, actor)
    _decide_items(claim, decisions, paid)
    claim.payout_fen = sum(a.settlement.payout_fen for a in paid.values())
    claim.decided_on, claim.reason = today, (note or "").strip() or None
    whole = len(approved) == len(claim.items)
    move(session=session, claim=claim, to=S.APPROVED if whole else S.PARTLY_APPROVED, actor=actor, today=today, reason=claim.reason)  # fmt: skip


def _decide_items(claim: Claim, decisions: Mapping[str, Decision], paid: Mapping[str, Answer]) -> None:
    for item in claim.items:
        d = decisions[item.setl_id]
        item.filing_confirmed = d.filing_confirmed
        item.note = (d.note or "").strip() or None
        if d.approve:
            answer = paid[item.setl_id]
            item.decision, item.settlement_id, item.payout_fen = (
                ItemDecision.APPROVED,
                answer.settlement.id,
                answer.settlement.payout_fen,
            )
        else:
            item.decision, item.reason_code, item.active = ItemDecision.REJECTED, d.reason_code, False  # fmt: skip


def _settle(session: Session, claim: Claim, decisions: Mapping[str, Decision], actor: audit.Actor) -> dict[str, Answer]:
    """Settle the approved stays one at a time in settlement-time order (one person: each sees the last's
    accumulators), as the hospital's system would have sent them."""
    items: list[ClaimItem] = sorted(
        (i for i in claim.items if decisions[i.setl_id].approve), key=lambda i: (i.bureau_record.setl_time, i.setl_id)
    )
    paid: dict[str, Answer] = {}
    for item in items:
        body = json.loads(item.bureau_record.record)
        if decisions[item.setl_id].filing_confirmed:
            body["setlinfo"]["out_area_filed"] = True
        (out,) = settle_many(
            session=session, items=[Item(actor, item.bureau_record.hospital_code, body, SettlementSource.CLAIM)]
        )
        if isinstance(out, SettlementRefused | RecordError):
            message = out.message if isinstance(out, SettlementRefused) else str(out)
            code = out.code if isinstance(out, SettlementRefused) else "invalid_record"
            raise ClaimRefused(422, code, f"结算 {item.setl_id} 不能赔付：{message}；请以相应原因不予赔付此次结算", f"decisions.{item.setl_id}")  # fmt: skip
        if out.replayed:  # the hospital sent it one-stop after the claim was filed
            raise ClaimRefused(
                409, "already_claimed", f"结算 {item.setl_id} 已一站式结算赔付过", f"decisions.{item.setl_id}"
            )
        paid[item.setl_id] = out
    return paid


def instruct_payment(*, session: Session, claims: list[Claim], actor: audit.Actor, today: date) -> str:
    """Put approved claims with something to pay into one payment batch; returns its reference."""
    ref = f"PAY{datetime.now().strftime('%Y%m%d%H%M%S%f')}"
    for claim in claims:
        if not claim.payout_fen:
            raise ClaimRefused(422, "nothing_to_pay", f"理赔申请 {claim.claim_no} 核定赔付为 0，无需支付", "claims")
        move(session=session, claim=claim, to=S.PAYMENT_INSTRUCTED, actor=actor, today=today, reason=f"支付批次 {ref}")
        claim.payment_ref = ref
    return ref


def mark_paid(*, session: Session, claim: Claim, actor: audit.Actor, today: date, reference: str | None = None) -> None:
    """The bank confirmed the transfer."""
    move(
        session=session, claim=claim, to=S.PAID, actor=actor, today=today, reason=reference and f"银行流水 {reference}"
    )
    claim.paid_on = today


def settlements_of(*, session: Session, claim: Claim) -> list[Settlement]:
    """The settlements the claim paid, in settlement-time order."""
    ids = [i.settlement_id for i in claim.items if i.settlement_id is not None]
    if not ids:
        return []
    return list(session.scalars(sa.select(Settlement).where(Settlement.id.in_(ids)).order_by(Settlement.setl_time)))
