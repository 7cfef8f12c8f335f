"""A claim's explanation of benefit: each stay's settlement explained as one-stop settlements are, and
for each stay not paid the adjuster's reason, so every amount less than claimed has its reason."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from huiminbao.claims.models import Claim, ItemDecision
from huiminbao.claims.review import settlements_of
from huiminbao.claims.schemas import item_reason
from huiminbao.claims.service import reason_text
from huiminbao.claims.states import STATE_NAMES
from huiminbao.enrollment.models import InsuredPerson
from huiminbao.money import to_yuan
from huiminbao.settlement.eob import Eob, as_json, eob_pdf
from huiminbao.settlement.service import eob_of


def claim_eobs(*, session: Session, claim: Claim) -> list[Eob]:
    return [eob_of(session=session, settlement=s) for s in settlements_of(session=session, claim=claim)]


def header(*, session: Session, claim: Claim) -> list[tuple[str, str]]:
    """The claim's identity and decision, with a line per stay not paid and why."""
    person = session.get(InsuredPerson, claim.person_id)
    rows = [
        ("申请编号", claim.claim_no or ""),
        ("参保人", person.name_masked if person is not None else claim.psn_no),
        ("人员编号", claim.psn_no),
        ("状态", STATE_NAMES[claim.state]),
        ("申请金额（个人负担）", f"{to_yuan(claim.claimed_fen)} 元"),
        ("核定赔付", "—" if claim.payout_fen is None else f"{to_yuan(claim.payout_fen)} 元"),
    ]
    if (why := reason_text(claim)) is not None:
        rows.append(("说明", why))
    rows += [
        (f"结算 {i.setl_id}", f"不予赔付：{item_reason(i.reason_code, i.note)}")
        for i in claim.items
        if i.decision is ItemDecision.REJECTED
    ]
    return rows


def claim_eob_json(*, session: Session, claim: Claim) -> dict[str, Any]:
    explained = {e.setl_id: as_json(e) for e in claim_eobs(session=session, claim=claim)}
    return {
        "claim_no": claim.claim_no,
        "state": claim.state.value,
        "payout": None if claim.payout_fen is None else to_yuan(claim.payout_fen),
        "header": [{"label": k, "value": v} for k, v in header(session=session, claim=claim)],
        "stays": [
            {
                "setl_id": i.setl_id,
                "decision": i.decision.value,
                "reason": item_reason(i.reason_code, i.note) if i.decision is ItemDecision.REJECTED else None,
                "eob": explained.get(i.setl_id),
            }
            for i in claim.items
        ],
    }


def claim_eob_pdf(*, session: Session, claim: Claim) -> bytes:
    return eob_pdf("惠民保理赔赔付说明", header(session=session, claim=claim), claim_eobs(session=session, claim=claim))
