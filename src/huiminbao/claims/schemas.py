"""What the claims API takes and answers: amounts as yuan strings, states with their Chinese names."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field

from huiminbao.calendar import WorkingCalendar
from huiminbao.claims import clock
from huiminbao.claims.models import BureauRecord, Claim, ClaimChannel, ClaimDocument, DocumentKind, RejectReason
from huiminbao.claims.service import Stay, reason_text
from huiminbao.claims.states import ACTOR_NAMES, DOCUMENT_NAMES, REASON_TEXT, STATE_NAMES
from huiminbao.money import to_yuan


class ClaimIn(BaseModel):
    psn_no: str = Field(min_length=1, max_length=40, description="为谁申请：本人或家人的人员编号")
    setl_ids: list[str] = Field(min_length=1, max_length=50, description="所选医保结算记录的结算 ID")
    channel: ClaimChannel | None = Field(None, description="默认：居民为 online，柜面人员为 counter")


class DecisionIn(BaseModel):
    approve: bool
    reason_code: RejectReason | None = None
    note: str | None = Field(None, max_length=500)
    filing_confirmed: bool = Field(False, description="已核实异地就医备案证明")


class DecideIn(BaseModel):
    decisions: dict[str, DecisionIn] = Field(description="每次结算（结算 ID）的核定")
    note: str | None = Field(None, max_length=500)


class RejectIn(BaseModel):
    reason_code: RejectReason
    note: str | None = Field(None, max_length=500)


class RequestIn(BaseModel):
    what: str = Field(min_length=1, max_length=500, description="需补充的材料")


class PaymentIn(BaseModel):
    claim_nos: list[str] = Field(min_length=1, max_length=1000)


class PaidIn(BaseModel):
    reference: str | None = Field(None, max_length=64, description="银行流水号")


class StayOut(BaseModel):
    setl_id: str
    hospital_code: str
    med_type: str
    begndate: date
    enddate: date | None
    medfee_sumamt: str
    psn_part_amt: str
    out_of_area: bool
    claimable: bool
    taken_by: str | None


class ItemOut(BaseModel):
    setl_id: str
    begndate: date
    hospital_code: str
    psn_part_amt: str
    decision: str
    reason: str | None
    filing_confirmed: bool
    payout: str | None


class DocumentOut(BaseModel):
    id: int
    kind: DocumentKind
    kind_name: str
    media_type: str
    size: int
    filename: str
    uploaded_by: str
    uploaded_at: str


class TransitionOut(BaseModel):
    to_state: str
    state_name: str
    on: date
    actor: str
    reason: str | None


class ClaimOut(BaseModel):
    claim_no: str
    psn_no: str
    plan: str
    channel: str
    state: str
    state_name: str
    submitted_on: date
    due_date: date | None = Field(description="应办结日期；补充材料期间暂停计时为 null")
    days_left: int | None = Field(description="剩余工作日（负数：已超期）")
    requested: str | None
    assignee: str | None
    claimed: str = Field(description="所选结算的个人负担合计（元）")
    payout: str | None
    reason: str | None
    paid_on: date | None
    items: list[ItemOut]
    documents: list[DocumentOut]
    transitions: list[TransitionOut]


def stay_out(stay: Stay) -> StayOut:
    r: BureauRecord = stay.record
    return StayOut(
        setl_id=r.setl_id, hospital_code=r.hospital_code, med_type=r.med_type, begndate=r.begndate,
        enddate=r.enddate, medfee_sumamt=to_yuan(r.medfee_sumamt_fen), psn_part_amt=to_yuan(r.psn_part_amt_fen),
        out_of_area=r.out_of_area, claimable=stay.taken_by is None, taken_by=stay.taken_by,
    )  # fmt: skip


def claim_out(claim: Claim, *, calendar: WorkingCalendar, today: date, staff: bool) -> ClaimOut:
    """The claim as its claimant or staff see it (the adjuster's notes on a stay only for staff)."""
    return ClaimOut(
        claim_no=claim.claim_no or "", psn_no=claim.psn_no, plan=claim.plan_id, channel=claim.channel.value,
        state=claim.state.value, state_name=STATE_NAMES[claim.state], submitted_on=claim.submitted_on,
        due_date=claim.due_date,
        days_left=clock.days_left(calendar, claim.due_date, today),
        requested=claim.requested, assignee=claim.assignee if staff else None,
        claimed=to_yuan(claim.claimed_fen),
        payout=None if claim.payout_fen is None else to_yuan(claim.payout_fen),
        reason=reason_text(claim), paid_on=claim.paid_on,
        items=[
            ItemOut(
                setl_id=i.setl_id, begndate=i.bureau_record.begndate, hospital_code=i.bureau_record.hospital_code,
                psn_part_amt=to_yuan(i.bureau_record.psn_part_amt_fen), decision=i.decision.value,
                reason=item_reason(i.reason_code, i.note if staff else None), filing_confirmed=i.filing_confirmed,
                payout=None if i.payout_fen is None else to_yuan(i.payout_fen),
            )
            for i in claim.items
        ],
        documents=[document_out(d) for d in claim.documents],
        transitions=[
            TransitionOut(to_state=t.to_state.value, state_name=STATE_NAMES[t.to_state], on=t.on,
                          actor=t.actor if staff else ACTOR_NAMES.get(t.role, "系统"), reason=t.reason)
            for t in claim.transitions
        ],
    )  # fmt: skip


def document_out(d: ClaimDocument) -> DocumentOut:
    return DocumentOut(
        id=d.id, kind=d.kind, kind_name=DOCUMENT_NAMES[d.kind], media_type=d.media_type, size=d.size,
        filename=d.filename, uploaded_by=d.uploaded_by, uploaded_at=d.uploaded_at.isoformat(timespec="seconds"),
    )  # fmt: skip


def item_reason(code: RejectReason | None, note: str | None) -> str | None:
    if code is None:
        return note
    return f"{REASON_TEXT[code]}：{note}" if note else REASON_TEXT[code]
