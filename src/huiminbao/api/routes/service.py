"""``/api/v1/service``: complaints and inquiries, the staff's policy look-up, and the counts supervisors see.

Residents open and follow their own cases (a case of someone else answers 404); counter clerks and
adjusters handle every case; administrators too; supervisors get counts only. The look-up takes the ID
number in a POST body, so it never sits in a URL or an access log.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from sqlalchemy.orm import Session

from huiminbao.access.errors import ApiError
from huiminbao.access.policies import Allow, actor_of
from huiminbao.access.scope import visible_plans
from huiminbao.api.errors import ERRORS
from huiminbao.db import SessionDep
from huiminbao.identity.models import Role, User
from huiminbao.service import lookup
from huiminbao.service import service as svc
from huiminbao.service.models import CaseKind, CaseStatus, ServiceCase
from huiminbao.service.schemas import AssignIn, Case, CaseIn, CloseIn, EscalateIn, LookupIn, ReplyIn

router = APIRouter(prefix="/api/v1/service", tags=["service"])
PARTIES = Allow(Role.RESIDENT, Role.CLERK, Role.ADJUSTER, Role.ADMIN)
HANDLERS = Allow(Role.CLERK, Role.ADJUSTER, Role.ADMIN)
COUNTS = Allow(Role.SUPERVISOR, Role.CLERK, Role.ADJUSTER, Role.ADMIN)
CaseNo = Annotated[str, Path(min_length=1, max_length=32)]


def refused(exc: svc.ServiceError) -> ApiError:
    return ApiError(exc.status, exc.code, exc.message, exc.field)


def resident_of(user: User) -> svc.Resident | None:
    """The resident whose cases these are; None for staff, who see every case."""
    return svc.Resident(user.username, user.psn_no) if user.role is Role.RESIDENT else None


def _case(session: Session, case_no: str, user: User) -> ServiceCase:
    try:
        return svc.get_case(session=session, case_no=case_no, resident=resident_of(user))
    except svc.ServiceError as exc:
        raise refused(exc) from None


def _view(request: Request, case: ServiceCase, user: User) -> dict[str, Any]:
    today = request.app.state.settings.platform_date()
    return svc.case_view(case, today=today, internal=user.role is not Role.RESIDENT)


@router.post("/cases", response_model=Case, status_code=201, responses=ERRORS)
def open_case(request: Request, session: SessionDep, body: CaseIn, user: Annotated[User, Depends(PARTIES)]) -> dict:
    """Open a complaint or an inquiry; its due date follows the working-day calendar."""
    settings = request.app.state.settings
    try:
        case = svc.open_case(
            session=session, actor=actor_of(request, user), kind=body.kind, category=body.category,
            channel=body.channel, subject=body.subject, text=body.text, psn_no=body.psn_no, claim_no=body.claim_no,
            day=settings.platform_date(), clock=svc.Clock.of(settings), resident=resident_of(user),
        )  # fmt: skip
    except svc.ServiceError as exc:
        raise refused(exc) from None
    session.commit()
    return _view(request, case, user)


@router.get("/cases", response_model=list[Case], responses=ERRORS)
def list_cases(
    request: Request,
    session: SessionDep,
    user: Annotated[User, Depends(PARTIES)],
    kind: CaseKind | None = None,
    status: CaseStatus | None = None,
    overdue: bool = False,
    handler: Annotated[str | None, Query(max_length=64)] = None,
) -> list[dict]:
    """A resident's own cases; for staff the queue, running cases first by due date, with filters."""
    cases = svc.list_cases(
        session=session, today=request.app.state.settings.platform_date(), resident=resident_of(user), kind=kind,
        status=status, overdue=overdue, handler=handler,
    )  # fmt: skip
    return [_view(request, c, user) for c in cases]


@router.get("/cases/{case_no}", response_model=Case, responses=ERRORS)
def get_case(request: Request, session: SessionDep, case_no: CaseNo, user: Annotated[User, Depends(PARTIES)]) -> dict:
    """A case and its replies (a resident: without internal notes)."""
    return _view(request, _case(session, case_no, user), user)


@router.post("/cases/{case_no}/replies", response_model=Case, status_code=201, responses=ERRORS)
def reply(
    request: Request, session: SessionDep, case_no: CaseNo, body: ReplyIn, user: Annotated[User, Depends(PARTIES)]
) -> dict:
    """Staff answer the resident or add an internal note; a resident adds a follow-up."""
    settings = request.app.state.settings
    case = _case(session, case_no, user)
    try:
        svc.reply(
            session=session, actor=actor_of(request, user), case=case, text=body.text, internal=body.internal,
            day=settings.platform_date(), clock=svc.Clock.of(settings),
        )  # fmt: skip
    except svc.ServiceError as exc:
        raise refused(exc) from None
    session.commit()
    return _view(request, case, user)


@router.post("/cases/{case_no}/assign", response_model=Case, responses=ERRORS)
def assign(
    request: Request, session: SessionDep, case_no: CaseNo, body: AssignIn, user: Annotated[User, Depends(HANDLERS)]
) -> dict:
    """Give the case to a handler (by default the caller)."""
    case = _case(session, case_no, user)
    try:
        svc.take(session=session, actor=actor_of(request, user), case=case, handler=body.handler)
    except svc.ServiceError as exc:
        raise refused(exc) from None
    session.commit()
    return _view(request, case, user)


@router.post("/cases/{case_no}/escalate", response_model=Case, responses=ERRORS)
def escalate(
    request: Request, session: SessionDep, case_no: CaseNo, body: EscalateIn, user: Annotated[User, Depends(HANDLERS)]
) -> dict:
    """Pass the case to the next level, with a new due date."""
    settings = request.app.state.settings
    case = _case(session, case_no, user)
    try:
        svc.escalate(
            session=session, actor=actor_of(request, user), case=case, reason=body.reason,
            day=settings.platform_date(), clock=svc.Clock.of(settings),
        )  # fmt: skip
    except svc.ServiceError as exc:
        raise refused(exc) from None
    session.commit()
    return _view(request, case, user)


@router.post("/cases/{case_no}/close", response_model=Case, responses=ERRORS)
def close(
    request: Request, session: SessionDep, case_no: CaseNo, body: CloseIn, user: Annotated[User, Depends(HANDLERS)]
) -> dict:
    """Close the case (办结), with a closing word to the resident if given."""
    case = _case(session, case_no, user)
    try:
        svc.close(
            session=session, actor=actor_of(request, user), case=case, note=body.note,
            day=request.app.state.settings.platform_date(),
        )  # fmt: skip
    except svc.ServiceError as exc:
        raise refused(exc) from None
    session.commit()
    return _view(request, case, user)


@router.get("/counts", responses=ERRORS)
def counts(
    request: Request,
    session: SessionDep,
    _user: Annotated[User, Depends(COUNTS)],
    since: date | None = None,
    until: date | None = None,
) -> dict:
    """Cases opened in a period by kind and category, channel and status, and how many are overdue now:
    aggregates only."""
    today = request.app.state.settings.platform_date()
    return svc.case_counts(session=session, today=today, since=since, until=until)


@router.post("/lookup/person", responses=ERRORS)
def lookup_person(
    request: Request, session: SessionDep, body: LookupIn, user: Annotated[User, Depends(HANDLERS)]
) -> dict:
    """A person's policies by ID number (checked, found by its keyed hash, audited masked)."""
    settings = request.app.state.settings
    try:
        found = lookup.lookup_person(
            session=session, actor=actor_of(request, user), certno=body.certno, keys=settings.pii_keys,
            hash_key=settings.pii_hash_key_bytes, plan_ids=visible_plans(user),
        )  # fmt: skip
    except svc.ServiceError as exc:
        raise refused(exc) from None
    session.commit()  # the look-up is audited whether or not it found someone
    if found is None:
        raise ApiError(404, "person_not_found", "参保人员库中没有该身份证号的人员", "certno")
    return found


@router.get("/lookup/groups", responses=ERRORS)
def lookup_groups(
    request: Request,
    session: SessionDep,
    user: Annotated[User, Depends(HANDLERS)],
    q: Annotated[str, Query(min_length=1, max_length=100, description="employer or charity name, or order number")],
) -> list[dict]:
    """Group and charity orders by payer name or order number, with counts and masked members."""
    try:
        found = lookup.lookup_groups(
            session=session, actor=actor_of(request, user), query=q, keys=request.app.state.settings.pii_keys,
            plan_ids=visible_plans(user),
        )  # fmt: skip
    except svc.ServiceError as exc:
        raise refused(exc) from None
    session.commit()
    return found
