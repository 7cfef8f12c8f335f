"""理赔 pages: a resident (or a counter clerk for anyone) files a claim from the bureau's records on a phone
and follows it; an adjuster works the queue and reviews a claim beside its documents and what approving
would pay; finance pays approved claims.

The pages are thin: every action is the claims API's own route function (the same checks, refusals and
transactions), and a refusal comes back on the page it was made from, in Chinese, never as a 500.
Filing with documents is one transaction: the claim is not filed when one of its files is refused.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable
from datetime import date, timedelta
from typing import Annotated, Any, TypeVar
from urllib.parse import urlencode

import sqlalchemy as sa
from fastapi import APIRouter, Depends, File, Form, Request, Response, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from huiminbao.access.errors import ApiError
from huiminbao.access.policies import SignedIn, actor_of, check_csrf
from huiminbao.access.scope import check_plan, visible_plans
from huiminbao.api.routes import claims as api
from huiminbao.calendar import default_calendar
from huiminbao.claims import clock, queue, review
from huiminbao.claims.models import Claim, ClaimChannel, ClaimState, DocumentKind, ItemDecision, RejectReason
from huiminbao.claims.schemas import DecideIn, DecisionIn, PaidIn, PaymentIn, RejectIn, RequestIn
from huiminbao.claims.service import ClaimRefused, add_document, file_claim, may_act_for, stays
from huiminbao.claims.states import ACTOR_NAMES, DECIDED, DOCUMENT_NAMES, OPEN, REASON_TEXT, STATE_NAMES
from huiminbao.db import SessionDep
from huiminbao.db.base import utcnow
from huiminbao.enrollment.models import InsuredPerson
from huiminbao.enrollment.policies import family
from huiminbao.identity.models import Hospital, Role, User
from huiminbao.money import to_fen
from huiminbao.plans import list_plans
from huiminbao.web.routes import not_found_page
from huiminbao.web.templating import render

router = APIRouter(include_in_schema=False)
E = TypeVar("E", bound=enum.Enum)
T = TypeVar("T")
FilerDep = Annotated[User, Depends(SignedIn(Role.RESIDENT, Role.CLERK, Role.ADMIN))]
ReaderDep = Annotated[User, Depends(SignedIn(Role.RESIDENT, Role.CLERK, Role.ADJUSTER, Role.FINANCE, Role.ADMIN))]
UploaderDep = Annotated[User, Depends(SignedIn(Role.RESIDENT, Role.CLERK, Role.ADJUSTER, Role.ADMIN))]
QueueDep = Annotated[User, Depends(SignedIn(Role.ADJUSTER, Role.ADMIN))]
ReviewerDep = Annotated[User, Depends(SignedIn(Role.ADJUSTER))]
PayerDep = Annotated[User, Depends(SignedIn(Role.FINANCE))]
Texts = Annotated[list[str], Form()]
Files = Annotated[list[UploadFile | str], File()]  # an empty file input may arrive as an empty string
UPLOAD_ROWS = 3
PAYABLE = (ClaimState.APPROVED, ClaimState.PARTLY_APPROVED)
DECISIONS = {ItemDecision.PENDING: "待核定", ItemDecision.APPROVED: "核准赔付", ItemDecision.REJECTED: "不予赔付"}
COMMON = {
    "state_names": STATE_NAMES,
    "document_names": {k.value: v for k, v in DOCUMENT_NAMES.items()},
    "reasons": {k.value: v for k, v in REASON_TEXT.items()},
    "decisions": DECISIONS,
    "upload_count": UPLOAD_ROWS,
}


def _member(kind: type[E], value: str) -> E | None:
    """The enum member of this value, None for anything else a form may send."""
    try:
        return kind(value)
    except ValueError:
        return None


def _today(request: Request) -> date:
    return request.app.state.settings.platform_date()


def _day(text: str, default: date) -> date:
    try:
        return date.fromisoformat(text.strip()) if text.strip() else default
    except ValueError:
        return default


def _hospitals(session: Session, codes: set[str]) -> dict[str, str]:
    return dict(session.execute(sa.select(Hospital.code, Hospital.name).where(Hospital.code.in_(codes))).all())


def _uploads(kinds: list[str], files: list[UploadFile | str]) -> list[tuple[DocumentKind, UploadFile]]:
    """The chosen files with their kinds (each file input follows its kind select); empty inputs dropped."""
    out = []
    for kind, file in zip(kinds, files, strict=False):
        if not isinstance(file, str) and file.filename:
            out.append((_member(DocumentKind, kind) or DocumentKind.OTHER, file))
    return out


def _store(
    request: Request, session: Session, user: User, claim: Claim, uploads: list[tuple[DocumentKind, UploadFile]]
) -> None:
    settings = request.app.state.settings
    for kind, file in uploads:
        add_document(
            session=session, claim=claim, actor=actor_of(request, user), kind=kind,
            data=file.file.read(settings.document_max_bytes + 1), filename=file.filename or "",
            root=settings.documents_dir, max_bytes=settings.document_max_bytes, per_claim=settings.documents_per_claim,
        )  # fmt: skip


# --- filing ------------------------------------------------------------------------------------------


def _family(session: Session, user: User) -> list[tuple[str, str]]:
    """The persons a resident may claim for: themselves first, then those whose policy they paid."""
    if user.role is not Role.RESIDENT or not user.psn_no:
        return []
    others = [p for p in family(session=session, psn_no=user.psn_no) if p != user.psn_no]
    return [(user.psn_no, f"本人（{user.psn_no}）"), *((p, f"家人（{p}）") for p in others)]


def _new_page(
    request: Request, session: Session, user: User, psn_no: str, start: str, end: str, status: int = 200, **extra: Any
) -> Response:
    today = _today(request)
    first, last = _day(start, today - timedelta(days=365)), _day(end, today)
    counter = user.role is not Role.RESIDENT
    persons = _family(session, user)
    chosen = psn_no.strip() or (user.psn_no or "" if not counter else "")
    found, error = None, extra.pop("error", None)
    if chosen:
        person = session.scalars(sa.select(InsuredPerson).where(InsuredPerson.psn_no == chosen)).one_or_none()
        if person is None or not may_act_for(session=session, user=user, person=person):
            error = error or f"没有可代为申请的参保人 {chosen}"
        else:
            found = stays(session=session, person=person, start=first, end=last)
    context = {
        **COMMON,
        "counter": counter,
        "persons": persons,
        "psn_no": chosen,
        "start": first,
        "end": last,
        "stays": found,
        "hospitals": _hospitals(session, {s.record.hospital_code for s in found or []}),
        "error": error,
        "picked": set(extra.pop("picked", [])),
        "active": "理赔申请",
    }
    return render(request, "claim_new.html", context | extra, status_code=status)


@router.get("/claims/new", response_class=HTMLResponse)
def new_claim_page(
    request: Request, session: SessionDep, user: FilerDep, psn_no: str = "", start: str = "", end: str = ""
) -> Response:
    """Pick the person and dates, then the stays from the bureau's records (those that cannot be claimed
    say why), and the documents."""
    return _new_page(request, session, user, psn_no, start, end)


@router.post("/claims/new", response_class=HTMLResponse, dependencies=[Depends(check_csrf)])
def file_claim_page(
    request: Request,
    session: SessionDep,
    user: FilerDep,
    psn_no: Annotated[str, Form()] = "",
    start: Annotated[str, Form()] = "",
    end: Annotated[str, Form()] = "",
    setl_id: Texts = [],  # noqa: B006  (FastAPI copies defaults)
    kind: Texts = [],  # noqa: B006
    file: Files = [],  # noqa: B006
) -> Response:
    """File the claim with its documents in one transaction, then show it; a refusal keeps the form."""
    channel = ClaimChannel.ONLINE if user.role is Role.RESIDENT else ClaimChannel.COUNTER
    try:
        claim = file_claim(
            session=session, user=user, actor=actor_of(request, user), psn_no=psn_no.strip(), setl_ids=setl_id,
            channel=channel, today=_today(request),
        )  # fmt: skip
        _store(request, session, user, claim, _uploads(kind, file))
        no = claim.claim_no
        session.commit()
    except ClaimRefused as exc:
        session.rollback()
        return _new_page(request, session, user, psn_no, start, end, exc.status, error=exc.message, picked=setl_id)
    except IntegrityError:
        session.rollback()
        error = "所选结算刚被其他理赔申请占用，请刷新后重试"
        return _new_page(request, session, user, psn_no, start, end, 409, error=error, picked=setl_id)
    return RedirectResponse(f"/claims/{no}?filed=1", status_code=303)


@router.get("/claims", response_class=HTMLResponse)
def my_claims_page(request: Request, session: SessionDep, user: FilerDep, psn_no: str = "") -> Response:
    """A resident's own and family's claims; a clerk looks a person's up by 人员编号."""
    if user.role is Role.RESIDENT:
        ids = set(family(session=session, psn_no=user.psn_no or "").values())
    else:
        ids = set(session.scalars(sa.select(InsuredPerson.id).where(InsuredPerson.psn_no == psn_no.strip())))
    found = queue.of_persons(session=session, person_ids=ids) if ids else []
    calendar, today = default_calendar(), _today(request)
    rows = [(c, clock.days_left(calendar, c.due_date, today)) for c in found]
    context = {
        **COMMON,
        "rows": rows,
        "counter": user.role is not Role.RESIDENT,
        "psn_no": psn_no,
        "active": "理赔申请",
    }
    return render(request, "claims_mine.html", context)


# --- one claim -----------------------------------------------------------------------------------------


def _claim(session: Session, user: User, claim_no: str) -> Claim:
    return api.claim_for(session, user, claim_no)


def _answers(session: Session, claim: Claim) -> dict[str, dict[str, Any]]:
    """Each paid stay's stored one-stop answer, amounts in fen for the page (the settlement's own lines)."""
    return {s.setl_id: _fen(json.loads(s.response)) for s in review.settlements_of(session=session, claim=claim)}


def _fen(answer: dict[str, Any]) -> dict[str, Any]:
    lines = [
        {**ln, **{k: to_fen(ln[k]) for k in ("base", "counted", "deductible_used", "payout") if k in ln}}
        for ln in answer.get("lines", [])
    ]
    return {**answer, "payout": to_fen(answer["payout"]), "lines": lines}


def _clock(request: Request, claim: Claim) -> int | None:
    return clock.days_left(default_calendar(), claim.due_date, _today(request))


def _claim_page(
    request: Request, session: Session, user: User, claim_no: str, status: int = 200, **extra: Any
) -> Response:
    claim = _claim(session, user, claim_no)
    staff = user.role is not Role.RESIDENT
    filer = user.role in (Role.RESIDENT, Role.CLERK, Role.ADMIN)
    context = {
        **COMMON,
        "c": claim,
        "staff": staff,
        "who": (lambda t: t.actor) if staff else (lambda t: ACTOR_NAMES.get(t.role, "系统")),
        "days_left": _clock(request, claim),
        "open": claim.state in OPEN,
        "decided": claim.state in DECIDED,
        "may_upload": claim.state in OPEN and user.role is not Role.FINANCE,
        "may_withdraw": claim.state in OPEN and filer,
        "may_supply": claim.state is ClaimState.DOCUMENTS_REQUESTED and filer,
        "answers": _answers(session, claim),
        "hospitals": _hospitals(session, {i.bureau_record.hospital_code for i in claim.items}),
        "reason_of": lambda i: REASON_TEXT[i.reason_code] if i.reason_code else None,
        "active": "理赔申请" if filer else ("理赔审核" if user.role is Role.ADJUSTER else "理赔支付"),
    }
    return render(request, "claim.html", context | extra, status_code=status)


def _retried(session: Session, action: Callable[[], T]) -> T:
    """Run ``action`` once more, from a fresh transaction, when SQLite refuses its write because another
    writer (the audit sealer, every second) committed since this transaction's first read: nothing was
    written, so doing it again is safe. PostgreSQL never answers so."""
    try:
        return action()
    except OperationalError:
        if session.get_bind().dialect.name != "sqlite":
            raise
        session.rollback()
        return action()


def _act(
    request: Request, session: Session, user: User, claim_no: str, action: Callable[[], object], back: str
) -> Response:
    """Run an API action; on success show the page again (by redirect), on a refusal show it with the reason."""
    try:
        _retried(session, action)
    except (ApiError, ClaimRefused) as exc:
        session.rollback()
        session.expire_all()
        page = _review_page if back == "review" else _claim_page
        try:
            return page(request, session, user, claim_no, exc.status, error=exc.message)
        except ApiError as missing:  # no such claim (or not this user's): the page itself is not found
            if missing.status != 404:
                raise
            return not_found_page(request, f"理赔申请 {claim_no}")
    suffix = "/review" if back == "review" else ""
    return RedirectResponse(f"/claims/{claim_no}{suffix}", status_code=303)


@router.post("/claims/{claim_no}/documents", response_class=HTMLResponse, dependencies=[Depends(check_csrf)])
def upload_page(
    request: Request,
    session: SessionDep,
    user: UploaderDep,
    claim_no: str,
    kind: Texts = [],  # noqa: B006
    file: Files = [],  # noqa: B006
) -> Response:
    """Add documents to an open claim (all of them or, when one is refused, none)."""
    back = "review" if user.role is Role.ADJUSTER else "claim"

    def act() -> None:
        chosen = _uploads(kind, file)
        if not chosen:
            raise ClaimRefused(422, "no_file", "请选择要上传的文件", "file")
        _store(request, session, user, _claim(session, user, claim_no), chosen)
        session.commit()

    return _act(request, session, user, claim_no, act, back)


@router.get("/claims/{claim_no}/documents/{doc_id}")
def document_page(request: Request, session: SessionDep, user: ReaderDep, claim_no: str, doc_id: int) -> Response:
    """A document, with the API's checks: the claimant and the staff who may see the claim only."""
    return api.get_document(request, session, user, claim_no, doc_id)


@router.get("/claims/{claim_no}/eob.pdf")
def claim_eob_page(request: Request, session: SessionDep, user: ReaderDep, claim_no: str) -> Response:
    """The claim's explanation of benefit as a PDF, with the API's checks."""
    try:
        return api.get_claim_eob_pdf(session, user, claim_no)
    except ApiError as exc:
        if exc.status == 404:
            return not_found_page(request, f"理赔申请 {claim_no}")
        raise


@router.post("/claims/{claim_no}/supply", response_class=HTMLResponse, dependencies=[Depends(check_csrf)])
def supply_page(request: Request, session: SessionDep, user: FilerDep, claim_no: str) -> Response:
    """材料已补齐: review resumes and the clock runs again."""
    return _act(request, session, user, claim_no, lambda: api.supply(request, session, user, claim_no), "claim")


@router.post("/claims/{claim_no}/withdraw", response_class=HTMLResponse, dependencies=[Depends(check_csrf)])
def withdraw_page(request: Request, session: SessionDep, user: FilerDep, claim_no: str) -> Response:
    return _act(request, session, user, claim_no, lambda: api.withdraw(request, session, user, claim_no), "claim")


# --- the adjusters' queue and review --------------------------------------------------------------------


def _plans(user: User) -> list[Any]:
    allowed = visible_plans(user)
    return [p for p in list_plans() if allowed is None or p.id in allowed]


@router.get("/claims/queue", response_class=HTMLResponse)
def queue_page(
    request: Request,
    session: SessionDep,
    user: QueueDep,
    plan: str = "",
    state: str = "",
    within: str = "",
    mine: str = "",
    page: str = "1",
) -> Response:
    """Open claims soonest due first (or one state), 50 a page, filtered by plan, days left and assignee."""
    if plan:
        check_plan(user, plan)
    chosen = _member(ClaimState, state)
    within_days = int(within) if within.isdigit() else None
    number = int(page) if page.isdigit() and int(page) > 0 else 1
    rows, total = queue.queue(
        session=session, calendar=default_calendar(), today=_today(request), plans=visible_plans(user),
        plan=plan or None, state=chosen, within_days=within_days,
        assignee=user.username if mine else None, page=number,
    )  # fmt: skip
    filters = {"plan": plan, "state": state, "within": within, "mine": mine}
    query = {k: v for k, v in filters.items() if v}
    context = {
        **COMMON,
        "rows": rows,
        "total": total,
        "page": number,
        "pages": max(1, -(-total // queue.PAGE)),
        "filters": filters,
        "plans": _plans(user),
        "page_url": lambda n: "/claims/queue?" + urlencode({**query, "page": n}),
        "tab": "queue",
        "active": "理赔审核",
    }
    return render(request, "claims_queue.html", context)


@router.get("/claims/sla", response_class=HTMLResponse)
def sla_page(request: Request, session: SessionDep, user: QueueDep) -> Response:
    """Open claims overdue, due within two working days, and paused for documents."""
    views = queue.sla(session=session, calendar=default_calendar(), today=_today(request), plans=visible_plans(user))
    context = {**COMMON, "views": views, "near_days": queue.NEAR_DAYS, "tab": "sla", "active": "理赔审核"}
    return render(request, "claims_sla.html", context)


def _review_page(
    request: Request, session: Session, user: User, claim_no: str, status: int = 200, **extra: Any
) -> Response:
    claim = _claim(session, user, claim_no)
    held = claim.locked_by == user.username and claim.locked_until is not None and claim.locked_until > utcnow()
    preview, preview_error = {}, None
    if claim.state in OPEN:
        try:
            answers = _retried(session, lambda: review.preview(session=session, claim=_claim(session, user, claim_no)))
            preview = {k: _fen(v) for k, v in answers.items()}
        except ClaimRefused as exc:
            preview_error = exc.message
        session.expire_all()  # the savepoint's rollback: read the claim as stored
        claim = _claim(session, user, claim_no)
    context = {
        **COMMON,
        "c": claim,
        "held": held,
        "days_left": _clock(request, claim),
        "preview": preview,
        "preview_error": preview_error,
        "answers": _answers(session, claim),
        "hospitals": _hospitals(session, {i.bureau_record.hospital_code for i in claim.items}),
        "reason_of": lambda i: REASON_TEXT[i.reason_code] if i.reason_code else None,
        "open": claim.state in OPEN,
        "active": "理赔审核",
    }
    return render(request, "claim_review.html", context | extra, status_code=status)


@router.get("/claims/{claim_no}/review", response_class=HTMLResponse)
def review_page(request: Request, session: SessionDep, user: ReviewerDep, claim_no: str) -> Response:
    """The claim beside its documents, the bureau's amounts and what approving would pay now."""
    try:
        return _review_page(request, session, user, claim_no)
    except ApiError as exc:
        if exc.status == 404:
            return not_found_page(request, f"理赔申请 {claim_no}")
        raise


@router.post("/claims/{claim_no}/take", response_class=HTMLResponse, dependencies=[Depends(check_csrf)])
def take_page(request: Request, session: SessionDep, user: ReviewerDep, claim_no: str) -> Response:
    """领取: the claim is this adjuster's while the lock lasts."""
    return _act(request, session, user, claim_no, lambda: api.take(request, session, user, claim_no), "review")


@router.post("/claims/{claim_no}/release", response_class=HTMLResponse, dependencies=[Depends(check_csrf)])
def release_page(request: Request, session: SessionDep, user: ReviewerDep, claim_no: str) -> Response:
    return _act(request, session, user, claim_no, lambda: api.release(request, session, user, claim_no), "review")


@router.post("/claims/{claim_no}/request", response_class=HTMLResponse, dependencies=[Depends(check_csrf)])
def request_page(
    request: Request, session: SessionDep, user: ReviewerDep, claim_no: str, what: Annotated[str, Form()] = ""
) -> Response:
    """Ask the claimant for documents: the clock pauses."""
    if not what.strip():
        return _review_page(request, session, user, claim_no, 422, error="请写明需要补充的材料")
    body = RequestIn(what=what.strip()[:500])
    return _act(request, session, user, claim_no, lambda: api.request_documents(request, session, user, claim_no, body), "review")  # fmt: skip


def _reason(code: str) -> RejectReason | None:
    return _member(RejectReason, code)


@router.post("/claims/{claim_no}/decide", response_class=HTMLResponse, dependencies=[Depends(check_csrf)])
def decide_page(
    request: Request,
    session: SessionDep,
    user: ReviewerDep,
    claim_no: str,
    setl_id: Texts = [],  # noqa: B006  one of each per stay, in the stays' order
    decision: Texts = [],  # noqa: B006
    reason_code: Texts = [],  # noqa: B006
    note: Texts = [],  # noqa: B006
    filed: Texts = [],  # noqa: B006  the setl_ids whose filing proof was seen
) -> Response:
    """Approve or refuse each stay; approved stays are paid at once by the one-stop engine."""
    decisions = {
        s: DecisionIn(approve=d == "approve", reason_code=_reason(r), note=n.strip()[:500] or None, filing_confirmed=s in filed)
        for s, d, r, n in zip(setl_id, decision, reason_code, note, strict=False)
    }  # fmt: skip
    body = DecideIn(decisions=decisions)
    return _act(request, session, user, claim_no, lambda: api.decide(request, session, user, claim_no, body), "review")


@router.post("/claims/{claim_no}/reject", response_class=HTMLResponse, dependencies=[Depends(check_csrf)])
def reject_page(
    request: Request,
    session: SessionDep,
    user: ReviewerDep,
    claim_no: str,
    reason_code: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
) -> Response:
    """Refuse the whole claim with a reason code."""
    code = _reason(reason_code)
    if code is None:
        return _review_page(request, session, user, claim_no, 422, error="请选择不予赔付的原因")
    body = RejectIn(reason_code=code, note=note.strip()[:500] or None)
    return _act(request, session, user, claim_no, lambda: api.reject_claim(request, session, user, claim_no, body), "review")  # fmt: skip


# --- finance ------------------------------------------------------------------------------------------------


def _payments_page(request: Request, session: Session, user: User, status: int = 200, **extra: Any) -> Response:
    calendar, today, plans = default_calendar(), _today(request), visible_plans(user)

    def of(state: ClaimState) -> list[Claim]:
        return [
            r.claim for r in queue.queue(session=session, calendar=calendar, today=today, plans=plans, state=state)[0]
        ]

    context = {
        **COMMON,
        "payable": [c for s in PAYABLE for c in of(s)],
        "instructed": of(ClaimState.PAYMENT_INSTRUCTED),
        "active": "理赔支付",
    }
    return render(request, "claims_payments.html", context | extra, status_code=status)


@router.get("/claims/payments", response_class=HTMLResponse)
def payments_page(request: Request, session: SessionDep, user: PayerDep, ref: str = "") -> Response:
    """Approved claims to pay, and those whose payment is instructed, awaiting the bank."""
    return _payments_page(request, session, user, done=f"已发起支付，批次 {ref}" if ref else None)


@router.post("/claims/payments", response_class=HTMLResponse, dependencies=[Depends(check_csrf)])
def instruct_page(request: Request, session: SessionDep, user: PayerDep, claim_no: Texts = []) -> Response:  # noqa: B006
    """发起支付 for the ticked claims, as one batch."""
    if not claim_no:
        return _payments_page(request, session, user, 422, error="请选择要支付的理赔申请")
    try:
        done = api.instruct(request, session, user, PaymentIn(claim_nos=claim_no[:1000]))
    except ApiError as exc:
        session.rollback()
        return _payments_page(request, session, user, exc.status, error=exc.message)
    return RedirectResponse("/claims/payments?" + urlencode({"ref": done["payment_ref"]}), status_code=303)


@router.post("/claims/{claim_no}/paid", response_class=HTMLResponse, dependencies=[Depends(check_csrf)])
def paid_page(
    request: Request, session: SessionDep, user: PayerDep, claim_no: str, reference: Annotated[str, Form()] = ""
) -> Response:
    """The bank confirmed the transfer (its reference kept with the claim's history)."""
    try:
        api.paid(request, session, user, claim_no, PaidIn(reference=reference.strip()[:64] or None))
    except ApiError as exc:
        session.rollback()
        return _payments_page(request, session, user, exc.status, error=exc.message)
    return RedirectResponse("/claims/payments", status_code=303)


# registered last: the fixed paths above (/claims/new, /queue, /sla, /payments) come first
@router.get("/claims/{claim_no}", response_class=HTMLResponse)
def claim_page(request: Request, session: SessionDep, user: ReaderDep, claim_no: str, filed: str = "") -> Response:
    """The claim's state, clock, timeline, what was asked for, documents and, once decided, the payout."""
    try:
        return _claim_page(request, session, user, claim_no, done="理赔申请已提交" if filed else None)
    except ApiError as exc:
        if exc.status == 404:
            return not_found_page(request, f"理赔申请 {claim_no}")
        raise
