"""客服 pages: a resident's own complaints and inquiries (/me/cases), the staff's queue and case pages
(/service/cases), the policy look-up (/service/lookup) and the supervisors' counts (/supervision/service).

The look-up posts the ID number in a form (never in a URL); a resident asking for someone else's case
gets the not-found page.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from huiminbao.access.errors import ApiError
from huiminbao.access.policies import SignedIn, actor_of, check_csrf
from huiminbao.access.scope import visible_plans
from huiminbao.api.routes.service import resident_of
from huiminbao.db import SessionDep
from huiminbao.enrollment.policies import family
from huiminbao.identity.models import Role, User
from huiminbao.service import lookup
from huiminbao.service import service as svc
from huiminbao.service.models import CaseCategory, CaseChannel, CaseKind, CaseStatus
from huiminbao.web.templating import render

router = APIRouter(include_in_schema=False)
ResidentDep = Annotated[User, Depends(SignedIn(Role.RESIDENT))]
StaffDep = Annotated[User, Depends(SignedIn(Role.CLERK, Role.ADJUSTER, Role.ADMIN))]
OverseerDep = Annotated[User, Depends(SignedIn(Role.SUPERVISOR, Role.ADMIN))]
CSRF = [Depends(check_csrf)]

LABELS = {
    "kinds": svc.KIND_NAMES,
    "categories": svc.CATEGORY_NAMES,
    "channels": svc.CHANNEL_NAMES,
    "statuses": svc.STATUS_NAMES,
    "staff_channels": {c: n for c, n in svc.CHANNEL_NAMES.items() if c in svc.STAFF_CHANNELS},
}


def _enum(cls: Any, value: str) -> Any:
    try:
        return cls(value)
    except ValueError:
        return None


def _family(session: SessionDep, user: User) -> list[str]:
    return (list(family(session=session, psn_no=user.psn_no)) or [user.psn_no]) if user.psn_no else []


def _new_page(request: Request, session: SessionDep, user: User, status: int = 200, **extra: Any) -> Response:
    resident = user.role is Role.RESIDENT
    context = {"active": "客服", "resident": resident, "family": _family(session, user) if resident else [], "form": {}}
    return render(request, "service_case_new.html", {**LABELS, **context, **extra}, status_code=status)


def _open(request: Request, session: SessionDep, user: User, form: dict[str, str]) -> Response:
    """Open the case the form describes; the form again, with the reason, when it cannot be."""
    settings = request.app.state.settings
    resident = resident_of(user)
    kind, category = _enum(CaseKind, form["kind"]), _enum(CaseCategory, form["category"])
    channel = CaseChannel.ONLINE if resident else _enum(CaseChannel, form["channel"])
    if kind is None or category is None or channel is None:
        return _new_page(request, session, user, 422, error="请选择诉求类型、类别和渠道", form=form)
    try:
        case = svc.open_case(
            session=session, actor=actor_of(request, user), kind=kind, category=category, channel=channel,
            subject=form["subject"][:100], text=form["text"][:4000], psn_no=form["psn_no"].strip() or None,
            claim_no=form["claim_no"], day=settings.platform_date(), clock=svc.Clock.of(settings), resident=resident,
        )  # fmt: skip
    except svc.ServiceError as exc:
        session.rollback()
        return _new_page(request, session, user, exc.status, error=exc.message, form=form)
    session.commit()
    where = "/me/cases/" if resident else "/service/cases/"
    return RedirectResponse(where + case.case_no, status_code=303)


def _case_page(request: Request, session: SessionDep, user: User, case_no: str, **extra: Any) -> Response:
    try:
        case = svc.get_case(session=session, case_no=case_no[:32], resident=resident_of(user))
    except svc.ServiceError as exc:
        raise ApiError(exc.status, exc.code, exc.message, exc.field) from None
    staff = user.role is not Role.RESIDENT
    view = svc.case_view(case, today=request.app.state.settings.platform_date(), internal=staff)
    status = extra.pop("status", 200)
    return render(
        request, "service_case.html", {"active": "客服", "case": view, "staff": staff, **extra}, status_code=status
    )


# --- residents ----------------------------------------------------------------------------


@router.get("/me/cases", response_class=HTMLResponse)
def my_cases(request: Request, session: SessionDep, user: ResidentDep) -> Response:
    today = request.app.state.settings.platform_date()
    cases = svc.list_cases(session=session, today=today, resident=resident_of(user))
    views = [svc.case_view(c, today=today, internal=False) for c in cases]
    return render(request, "service_my_cases.html", {"active": "客服", "cases": views})


@router.get("/me/cases/new", response_class=HTMLResponse)
def my_new_case(request: Request, session: SessionDep, user: ResidentDep) -> Response:
    return _new_page(request, session, user)


@router.post("/me/cases/new", response_class=HTMLResponse, dependencies=CSRF)
def my_open_case(
    request: Request, session: SessionDep, user: ResidentDep,
    kind: Annotated[str, Form()] = "", category: Annotated[str, Form()] = "", psn_no: Annotated[str, Form()] = "",
    claim_no: Annotated[str, Form()] = "", subject: Annotated[str, Form()] = "", text: Annotated[str, Form()] = "",
) -> Response:  # fmt: skip
    form = {"kind": kind, "category": category, "channel": "online", "psn_no": psn_no, "claim_no": claim_no,
            "subject": subject, "text": text}  # fmt: skip
    return _open(request, session, user, form)


@router.get("/me/cases/{case_no}", response_class=HTMLResponse)
def my_case(request: Request, session: SessionDep, user: ResidentDep, case_no: str) -> Response:
    return _case_page(request, session, user, case_no)


@router.post("/me/cases/{case_no}", response_class=HTMLResponse, dependencies=CSRF)
def my_follow_up(
    request: Request, session: SessionDep, user: ResidentDep, case_no: str, text: Annotated[str, Form()] = ""
) -> Response:
    """A resident's follow-up on their case (reopens an answered one)."""
    return _act(request, session, user, case_no, "reply", text[:4000], "")


# --- staff --------------------------------------------------------------------------------


@router.get("/service/cases", response_class=HTMLResponse)
def queue(
    request: Request, session: SessionDep, user: StaffDep, kind: str = "", status: str = "", overdue: str = "",
    mine: str = "",
) -> Response:  # fmt: skip
    today = request.app.state.settings.platform_date()
    cases = svc.list_cases(
        session=session, today=today, kind=_enum(CaseKind, kind), status=_enum(CaseStatus, status),
        overdue=bool(overdue), handler=user.username if mine else None,
    )  # fmt: skip
    views = [svc.case_view(c, today=today, internal=True) for c in cases]
    filters = {"kind": kind, "status": status, "overdue": bool(overdue), "mine": bool(mine)}
    return render(request, "service_cases.html", {**LABELS, "active": "客服", "cases": views, "filters": filters})


@router.get("/service/cases/new", response_class=HTMLResponse)
def new_case(request: Request, session: SessionDep, user: StaffDep) -> Response:
    return _new_page(request, session, user)


@router.post("/service/cases/new", response_class=HTMLResponse, dependencies=CSRF)
def open_case(
    request: Request, session: SessionDep, user: StaffDep,
    kind: Annotated[str, Form()] = "", category: Annotated[str, Form()] = "", channel: Annotated[str, Form()] = "",
    psn_no: Annotated[str, Form()] = "", claim_no: Annotated[str, Form()] = "", subject: Annotated[str, Form()] = "",
    text: Annotated[str, Form()] = "",
) -> Response:  # fmt: skip
    """A case that came by the hotline, the counter, a letter or the regulator."""
    form = {"kind": kind, "category": category, "channel": channel, "psn_no": psn_no, "claim_no": claim_no,
            "subject": subject, "text": text}  # fmt: skip
    return _open(request, session, user, form)


@router.get("/service/cases/{case_no}", response_class=HTMLResponse)
def case_page(request: Request, session: SessionDep, user: StaffDep, case_no: str) -> Response:
    return _case_page(request, session, user, case_no)


@router.post("/service/cases/{case_no}", response_class=HTMLResponse, dependencies=CSRF)
def case_action(
    request: Request, session: SessionDep, user: StaffDep, case_no: str,
    action: Annotated[str, Form()] = "", text: Annotated[str, Form()] = "", handler: Annotated[str, Form()] = "",
) -> Response:  # fmt: skip
    """``take``, ``reply`` (to the resident), ``note`` (internal), ``escalate`` or ``close``."""
    return _act(request, session, user, case_no, action, text[:4000], handler[:64])


def _act(
    request: Request, session: SessionDep, user: User, case_no: str, action: str, text: str, handler: str
) -> Response:
    settings = request.app.state.settings
    day, clock, actor = settings.platform_date(), svc.Clock.of(settings), actor_of(request, user)
    resident = resident_of(user)
    try:
        case = svc.get_case(session=session, case_no=case_no[:32], resident=resident)
    except svc.ServiceError as exc:
        raise ApiError(exc.status, exc.code, exc.message, exc.field) from None
    try:
        if action in ("reply", "note"):
            svc.reply(
                session=session, actor=actor, case=case, text=text, internal=action == "note", day=day, clock=clock
            )
        elif action == "take":
            svc.take(session=session, actor=actor, case=case, handler=handler or None)
        elif action == "escalate":
            svc.escalate(session=session, actor=actor, case=case, reason=text, day=day, clock=clock)
        elif action == "close":
            svc.close(session=session, actor=actor, case=case, note=text, day=day)
        else:
            return _case_page(request, session, user, case_no, status=422, error="未知的操作")
    except svc.ServiceError as exc:
        session.rollback()
        return _case_page(request, session, user, case_no, status=exc.status, error=exc.message, text=text)
    session.commit()
    where = "/me/cases/" if resident else "/service/cases/"
    return RedirectResponse(where + case.case_no, status_code=303)


# --- look-up --------------------------------------------------------------------------------


@router.get("/service/lookup", response_class=HTMLResponse)
def lookup_page(request: Request, user: StaffDep) -> Response:
    return render(request, "service_lookup.html", {"active": "客服"})


@router.post("/service/lookup", response_class=HTMLResponse, dependencies=CSRF)
def lookup_person(
    request: Request, session: SessionDep, user: StaffDep, certno: Annotated[str, Form()] = ""
) -> Response:
    """A person's policies by ID number; the form is not refilled with the number."""
    settings = request.app.state.settings
    try:
        found = lookup.lookup_person(
            session=session, actor=actor_of(request, user), certno=certno[:32], keys=settings.pii_keys,
            hash_key=settings.pii_hash_key_bytes, plan_ids=visible_plans(user),
        )  # fmt: skip
    except svc.ServiceError as exc:
        return render(request, "service_lookup.html", {"active": "客服", "error": exc.message}, status_code=exc.status)
    session.commit()
    if found is None:
        context = {"active": "客服", "error": "参保人员库中没有该身份证号的人员"}
        return render(request, "service_lookup.html", context, status_code=404)
    return render(request, "service_lookup.html", {"active": "客服", "found": found})


@router.get("/service/lookup/groups", response_class=HTMLResponse)
def lookup_groups(request: Request, session: SessionDep, user: StaffDep, q: str = "") -> Response:
    context: dict[str, Any] = {"active": "客服", "q": q}
    if q.strip():
        context["groups"] = lookup.lookup_groups(
            session=session, actor=actor_of(request, user), query=q[:100], keys=request.app.state.settings.pii_keys,
            plan_ids=visible_plans(user),
        )  # fmt: skip
        session.commit()
    return render(request, "service_lookup.html", context)


# --- supervision ----------------------------------------------------------------------------


@router.get("/supervision/service", response_class=HTMLResponse)
def counts_page(request: Request, session: SessionDep, user: OverseerDep, since: str = "", until: str = "") -> Response:
    """Complaints and inquiries counted, for the bureau: no case, person or text."""
    today = request.app.state.settings.platform_date()
    try:
        start = date.fromisoformat(since) if since else date(today.year, 1, 1)
        end = date.fromisoformat(until) if until else today
    except ValueError:
        start, end = date(today.year, 1, 1), today
    counts = svc.case_counts(session=session, today=today, since=start, until=end)
    return render(
        request,
        "supervision_service.html",
        {"active": "监管", "tab": "service", "counts": counts, "since": start, "until": end},
    )
