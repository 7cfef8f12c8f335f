"""``/api/v1/claims``: claims filed after care, their review, payment and documents.

Residents file for themselves and their family from the bureau's records (``GET /api/v1/claims/stays``),
add documents, supply what was asked for, withdraw, and follow. Counter clerks file for anyone. Adjusters
of the plan's consortium take a claim (a lock), ask for documents, see what approving would pay, and
decide; finance instructs payment and marks it paid. Every refusal is the contract's error body.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated
from urllib.parse import quote

import sqlalchemy as sa
from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import Response
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from huiminbao.access.errors import ApiError
from huiminbao.access.policies import Allow, actor_of
from huiminbao.access.scope import check_plan, visible_plans
from huiminbao.api.errors import ERRORS
from huiminbao.calendar import CalendarError, default_calendar
from huiminbao.claims import documents, queue, review
from huiminbao.claims.eob import claim_eob_json, claim_eob_pdf
from huiminbao.claims.models import Claim, ClaimChannel, ClaimState, DocumentKind
from huiminbao.claims.schemas import (
    ClaimIn,
    ClaimOut,
    DecideIn,
    DocumentOut,
    PaidIn,
    PaymentIn,
    RejectIn,
    RequestIn,
    StayOut,
    claim_out,
    document_out,
    stay_out,
)
from huiminbao.claims.service import (
    ClaimRefused,
    add_document,
    file_claim,
    get_claim_or_raise,
    may_act_for,
    may_see,
    move,
    reject,
    stays,
)
from huiminbao.db import SessionDep
from huiminbao.enrollment.epolicy import EPolicyError
from huiminbao.enrollment.models import InsuredPerson
from huiminbao.enrollment.policies import family
from huiminbao.identity.models import Role, User

router = APIRouter(prefix="/api/v1", tags=["claims"])
FILERS = (Role.RESIDENT, Role.CLERK, Role.ADMIN)
READERS = (Role.RESIDENT, Role.CLERK, Role.ADJUSTER, Role.FINANCE, Role.ADMIN)
REVIEWERS = (Role.ADJUSTER,)
PAYERS = (Role.FINANCE,)
Filer = Annotated[User, Depends(Allow(*FILERS))]
Reader = Annotated[User, Depends(Allow(*READERS))]
Reviewer = Annotated[User, Depends(Allow(*REVIEWERS))]
Payer = Annotated[User, Depends(Allow(*PAYERS))]
Uploader = Annotated[User, Depends(Allow(Role.RESIDENT, Role.CLERK, Role.ADJUSTER, Role.ADMIN))]
Staff = Annotated[User, Depends(Allow(Role.CLERK, Role.ADJUSTER, Role.FINANCE, Role.ADMIN))]


def refused(exc: ClaimRefused) -> ApiError:
    return ApiError(exc.status, exc.code, exc.message, exc.field)


def today_of(request: Request) -> date:
    return request.app.state.settings.platform_date()


def claim_for(session: Session, user: User, claim_no: str) -> Claim:
    """The claim if this user may see it: residents their family's, insurer staff their consortium's."""
    try:
        claim = get_claim_or_raise(session=session, claim_no=claim_no)
    except ClaimRefused as exc:
        raise refused(exc) from None
    if not may_see(session=session, user=user, claim=claim):
        raise ApiError(404, "claim_not_found", f"没有理赔申请 {claim_no}", "claim_no")
    check_plan(user, claim.plan_id)
    return claim


def out(request: Request, claim: Claim, user: User) -> ClaimOut:
    return claim_out(claim, calendar=default_calendar(), today=today_of(request), staff=user.role is not Role.RESIDENT)


@router.get("/claims/stays", responses=ERRORS)
def list_stays(
    session: SessionDep,
    user: Filer,
    psn_no: Annotated[str, Query(min_length=1, max_length=40)],
    start: date,
    end: date,
) -> list[StayOut]:
    """The person's settlements in the bureau's data between two admission dates, and whether each can
    be claimed (a stay paid one-stop or held by another claim says which)."""
    person = session.scalars(sa.select(InsuredPerson).where(InsuredPerson.psn_no == psn_no)).one_or_none()
    if person is None or not may_act_for(session=session, user=user, person=person):
        raise ApiError(404, "person_not_found", f"没有可代为申请的参保人 {psn_no}", "psn_no")
    return [stay_out(s) for s in stays(session=session, person=person, start=start, end=end)]


@router.post("/claims", status_code=201, responses=ERRORS)
def post_claim(request: Request, session: SessionDep, user: Filer, body: ClaimIn) -> ClaimOut:
    """File a claim on the picked stays (online for a resident, at the counter for a clerk)."""
    channel = body.channel or (ClaimChannel.ONLINE if user.role is Role.RESIDENT else ClaimChannel.COUNTER)
    if user.role is Role.RESIDENT and channel is not ClaimChannel.ONLINE:
        raise ApiError(422, "channel_not_allowed", "居民只能在线申请", "channel")
    try:
        claim = file_claim(
            session=session, user=user, actor=actor_of(request, user), psn_no=body.psn_no,
            setl_ids=body.setl_ids, channel=channel, today=today_of(request),
        )  # fmt: skip
    except ClaimRefused as exc:
        raise refused(exc) from None
    except IntegrityError:
        session.rollback()
        raise ApiError(409, "already_claimed", "所选结算刚被其他理赔申请占用，请刷新后重试", "setl_ids") from None
    view = out(request, claim, user)
    session.commit()
    return view


@router.get("/claims", responses=ERRORS)
def list_claims(
    request: Request,
    session: SessionDep,
    user: Reader,
    plan: str | None = None,
    state: ClaimState | None = None,
    within_days: Annotated[int | None, Query(ge=0, le=60, description="剩余工作日不超过")] = None,
    mine: bool = False,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> dict[str, object]:
    """A resident's own and family's claims; for staff the queue (open claims soonest due first, or one
    state), filtered by plan, days left and assignee."""
    today, calendar = today_of(request), default_calendar()
    if user.role is Role.RESIDENT:
        claims = queue.of_persons(
            session=session, person_ids=family(session=session, psn_no=user.psn_no or "").values()
        )
        return {"total": len(claims), "claims": [out(request, c, user) for c in claims]}
    if plan:
        check_plan(user, plan)
    try:
        rows, total = queue.queue(
            session=session, calendar=calendar, today=today, plans=visible_plans(user), plan=plan, state=state,
            within_days=within_days, assignee=user.username if mine else None, page=page,
        )  # fmt: skip
    except CalendarError as exc:  # the days-left bound falls in a year the calendar does not know yet
        raise ApiError(422, "calendar_not_covered", str(exc), "within_days") from None
    return {"total": total, "claims": [out(request, r.claim, user) for r in rows]}


@router.get("/claims/sla", responses=ERRORS)
def claims_sla(request: Request, session: SessionDep, user: Staff) -> dict[str, list[ClaimOut]]:
    """Open claims past their due date, due within two working days, and paused for documents."""
    views = queue.sla(session=session, calendar=default_calendar(), today=today_of(request), plans=visible_plans(user))
    return {k: [out(request, r.claim, user) for r in rows] for k, rows in views.items()}


@router.get("/claims/{claim_no}", responses=ERRORS)
def get_claim(request: Request, session: SessionDep, user: Reader, claim_no: str) -> ClaimOut:
    return out(request, claim_for(session, user, claim_no), user)


def _act(request: Request, session: Session, user: User, claim_no: str, action: object) -> ClaimOut:
    claim = claim_for(session, user, claim_no)
    try:
        action(claim)  # type: ignore[operator]
    except ClaimRefused as exc:
        raise refused(exc) from None
    view = out(request, claim, user)
    session.commit()
    return view


@router.post("/claims/{claim_no}/withdraw", responses=ERRORS)
def withdraw(request: Request, session: SessionDep, user: Filer, claim_no: str) -> ClaimOut:
    """The claimant withdraws a claim not yet decided."""
    return _act(request, session, user, claim_no, lambda c: move(
        session=session, claim=c, to=ClaimState.WITHDRAWN, actor=actor_of(request, user), today=today_of(request), reason="申请人撤回",
    ))  # fmt: skip


@router.post("/claims/{claim_no}/supply", responses=ERRORS)
def supply(request: Request, session: SessionDep, user: Filer, claim_no: str) -> ClaimOut:
    """The claimant has uploaded what was asked for: review resumes and the clock runs again."""
    return _act(request, session, user, claim_no, lambda c: review.supply_documents(
        session=session, claim=c, actor=actor_of(request, user), today=today_of(request),
    ))  # fmt: skip


@router.post("/claims/{claim_no}/take", responses=ERRORS)
def take(request: Request, session: SessionDep, user: Reviewer, claim_no: str) -> ClaimOut:
    """Take the claim for review: a lock no other adjuster can break while it lasts."""
    return _act(request, session, user, claim_no, lambda c: review.take(
        session=session, claim=c, user=user, actor=actor_of(request, user), today=today_of(request),
    ))  # fmt: skip


@router.post("/claims/{claim_no}/release", responses=ERRORS)
def release(request: Request, session: SessionDep, user: Reviewer, claim_no: str) -> ClaimOut:
    return _act(request, session, user, claim_no, lambda c: review.release(session=session, claim=c, user=user))


@router.post("/claims/{claim_no}/request-documents", responses=ERRORS)
def request_documents(
    request: Request, session: SessionDep, user: Reviewer, claim_no: str, body: RequestIn
) -> ClaimOut:
    """Ask for documents: the clock pauses until the claimant supplies them."""
    return _act(request, session, user, claim_no, lambda c: review.request_documents(
        session=session, claim=c, user=user, actor=actor_of(request, user), what=body.what, today=today_of(request),
    ))  # fmt: skip


@router.get("/claims/{claim_no}/preview", responses=ERRORS)
def preview(session: SessionDep, user: Reviewer, claim_no: str) -> dict[str, object]:
    """What approving every stay would pay now (the one-stop answers), without keeping anything."""
    claim = claim_for(session, user, claim_no)
    try:
        return review.preview(session=session, claim=claim)
    except ClaimRefused as exc:
        raise refused(exc) from None


@router.post("/claims/{claim_no}/decision", responses=ERRORS)
def decide(request: Request, session: SessionDep, user: Reviewer, claim_no: str, body: DecideIn) -> ClaimOut:
    """Approve or refuse each stay; approved stays are paid by the one-stop engine with the person's
    accumulators in this transaction."""
    decisions = {
        k: review.Decision(v.approve, v.reason_code, v.note, v.filing_confirmed) for k, v in body.decisions.items()
    }
    return _act(request, session, user, claim_no, lambda c: review.decide(
        session=session, claim=c, user=user, actor=actor_of(request, user), decisions=decisions,
        today=today_of(request), note=body.note,
    ))  # fmt: skip


@router.post("/claims/{claim_no}/reject", responses=ERRORS)
def reject_claim(request: Request, session: SessionDep, user: Reviewer, claim_no: str, body: RejectIn) -> ClaimOut:
    """Refuse the whole claim with a reason code."""

    def act(c: Claim) -> None:
        if c.state is ClaimState.IN_REVIEW:
            review.release(session=session, claim=c, user=user)  # only the holder decides a claim in review
        reject(session=session, claim=c, actor=actor_of(request, user), code=body.reason_code, note=body.note, today=today_of(request))  # fmt: skip

    return _act(request, session, user, claim_no, act)


@router.post("/claims/payments", responses=ERRORS)
def instruct(request: Request, session: SessionDep, user: Payer, body: PaymentIn) -> dict[str, object]:
    """Put approved claims into one payment batch."""
    claims = [claim_for(session, user, no) for no in dict.fromkeys(body.claim_nos)]
    try:
        ref = review.instruct_payment(
            session=session, claims=claims, actor=actor_of(request, user), today=today_of(request)
        )
    except ClaimRefused as exc:
        raise refused(exc) from None
    session.commit()
    return {"payment_ref": ref, "claims": [c.claim_no for c in claims]}


@router.post("/claims/{claim_no}/paid", responses=ERRORS)
def paid(request: Request, session: SessionDep, user: Payer, claim_no: str, body: PaidIn) -> ClaimOut:
    """The bank confirmed the transfer."""
    return _act(request, session, user, claim_no, lambda c: review.mark_paid(
        session=session, claim=c, actor=actor_of(request, user), today=today_of(request), reference=body.reference,
    ))  # fmt: skip


@router.post("/claims/{claim_no}/documents", status_code=201, responses=ERRORS)
def upload_document(
    request: Request,
    session: SessionDep,
    user: Uploader,
    claim_no: str,
    kind: Annotated[DocumentKind, Form(description="材料类型")],
    file: Annotated[UploadFile, File(description="PDF、JPEG 或 PNG")],
) -> DocumentOut:
    """Add a document to an open claim: checked by its content (not its name), size-limited, kept by its
    SHA-256 outside the database."""
    settings = request.app.state.settings
    data, name = file.file.read(settings.document_max_bytes + 1), file.filename or ""
    claim = claim_for(session, user, claim_no)
    try:
        doc = add_document(
            session=session, claim=claim, actor=actor_of(request, user), kind=kind, data=data, filename=name,
            root=settings.documents_dir, max_bytes=settings.document_max_bytes, per_claim=settings.documents_per_claim,
        )  # fmt: skip
    except ClaimRefused as exc:
        raise refused(exc) from None
    view = document_out(doc)
    session.commit()
    return view


@router.get("/claims/{claim_no}/documents/{doc_id}", response_class=Response, responses=ERRORS)
def get_document(request: Request, session: SessionDep, user: Reader, claim_no: str, doc_id: int) -> Response:
    """A document, to the claimant and the staff who may see the claim only."""
    claim = claim_for(session, user, claim_no)
    doc = next((d for d in claim.documents if d.id == doc_id), None)
    if doc is None:
        raise ApiError(404, "document_not_found", f"理赔申请 {claim_no} 没有材料 {doc_id}", "doc_id")
    try:
        data = documents.read(doc.sha256, root=request.app.state.settings.documents_dir)
    except documents.DocumentUnavailable:
        raise ApiError(410, "document_unavailable", "材料文件缺失或已被改动，请联系管理员", "doc_id") from None
    disposition = "attachment" if doc.media_type == "application/pdf" else "inline"
    return Response(
        data,
        media_type=doc.media_type,
        headers={
            "Content-Disposition": f"{disposition}; filename*=UTF-8''{quote(doc.filename)}",
            "Cache-Control": "private, no-store",
        },
    )


@router.get("/claims/{claim_no}/eob", responses=ERRORS)
def get_claim_eob(session: SessionDep, user: Reader, claim_no: str) -> dict[str, object]:
    """The claim's explanation of benefit: each paid stay line by line, each refused stay with its reason."""
    return claim_eob_json(session=session, claim=claim_for(session, user, claim_no))


@router.get("/claims/{claim_no}/eob.pdf", response_class=Response, responses=ERRORS)
def get_claim_eob_pdf(session: SessionDep, user: Reader, claim_no: str) -> Response:
    """The same as a PDF (embedded Chinese font)."""
    claim = claim_for(session, user, claim_no)
    try:
        pdf = claim_eob_pdf(session=session, claim=claim)
    except EPolicyError as exc:
        raise ApiError(503, "font_missing", str(exc), None) from None
    disposition = f'inline; filename="eob-{claim.claim_no}.pdf"'
    return Response(pdf, media_type="application/pdf", headers={"Content-Disposition": disposition})
