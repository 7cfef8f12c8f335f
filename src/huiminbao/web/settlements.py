"""医院结算 and what operators see of it: a hospital's settlements and the explanation of benefit of each,
the day's one-stop settlements by hospital, and the plan-year's re-adjudication (年终重算); 我的结算, a
resident's own and their family's settlements with the same explanation.

A hospital's users see only their own hospital's settlements: another hospital's is refused, never
shown; a resident only theirs and those of the family members they paid for (the API's rule, one
function). The explanation is built from the record and the answer the hospital was given, as stored, so
the page, the PDF and the hospital's system never disagree. Amounts are integer fen for the ``yuan``
filter; ID numbers are never shown.
"""

from __future__ import annotations

from datetime import date, timedelta, timezone
from typing import Annotated
from urllib.parse import urlencode

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Form, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from huiminbao.access.errors import ApiError
from huiminbao.access.policies import SignedIn, actor_of, check_csrf
from huiminbao.access.scope import check_plan, readable_plans, visible_plans
from huiminbao.api.routes.settlements import eob_pdf_response, readable_settlement
from huiminbao.db import SessionDep
from huiminbao.identity.models import Hospital, Role, User
from huiminbao.plans import PlanError, PlanIncomplete, PlanNotFound, list_plans
from huiminbao.settlement.eob import STATUSES
from huiminbao.settlement.models import SettlementKind
from huiminbao.settlement.service import (
    day_total,
    day_volume,
    eob_of,
    last_year_end,
    list_adjustments,
    list_settlements,
    resident_settlements,
)
from huiminbao.settlement.yearend import year_end
from huiminbao.web.routes import not_found_page
from huiminbao.web.templating import render

router = APIRouter(include_in_schema=False)
HospitalDep = Annotated[User, Depends(SignedIn(Role.HOSPITAL, Role.ADMIN))]
EobStaffDep = Annotated[User, Depends(SignedIn(Role.HOSPITAL, Role.ADJUSTER, Role.FINANCE, Role.ADMIN))]
ResidentDep = Annotated[User, Depends(SignedIn(Role.RESIDENT))]
OverseerDep = Annotated[User, Depends(SignedIn(Role.SUPERVISOR, Role.ADMIN, Role.FINANCE))]
YearEndDep = Annotated[User, Depends(SignedIn(Role.ADMIN, Role.FINANCE))]
BEIJING = timezone(timedelta(hours=8), "北京时间")
KINDS = {SettlementKind.PAYMENT.value: "结算", SettlementKind.REFUND.value: "退费"}
BAD_DATE = "日期格式应为 YYYY-MM-DD"


def _day(text: str) -> date | None:
    """A date from a query (the browser's date input sends YYYY-MM-DD); empty: none; ValueError if bad."""
    return date.fromisoformat(text.strip()) if text.strip() else None


@router.get("/hospital/settlements", response_class=HTMLResponse)
def settlements_page(
    request: Request,
    session: SessionDep,
    user: HospitalDep,
    since: str = "",
    until: str = "",
    kind: str = "",
    hospital: str = "",
    page: str = "1",
) -> Response:
    """A hospital's settlements and refunds, newest first, 50 a page; administrators see every hospital's
    and may pick one."""
    own = user.role is Role.HOSPITAL
    code = (user.hospital_code or "") if own else (hospital.strip() or None)  # a hospital user without one sees none
    error, found = None, None
    try:
        start, end = _day(since), _day(until)
    except ValueError:
        error = BAD_DATE
    else:
        found = list_settlements(
            session=session,
            hospital_code=code,
            kind=SettlementKind(kind) if kind in KINDS else None,
            since=start,
            until=end,
            page=int(page) if page.isdigit() else 1,
        )
    names = sa.select(Hospital.code, Hospital.name).order_by(Hospital.code)
    hospitals = {} if own else dict(session.execute(names).all())
    filters = {"since": since, "until": until, "kind": kind, "hospital": "" if own else hospital}
    query = {k: v for k, v in filters.items() if v}
    context = {
        "found": found,
        "filters": filters,
        "error": error,
        "own": own,
        "chosen": session.get(Hospital, code) if code else None,
        "hospitals": hospitals,
        "kinds": KINDS,
        "statuses": STATUSES,
        "page_url": lambda n: "/hospital/settlements?" + urlencode({**query, "page": n}),
        "active": "医院结算",
    }
    return render(request, "hospital_settlements.html", context)


@router.get("/hospital/settlements/{setl_id}", response_class=HTMLResponse)
def settlement_page(request: Request, session: SessionDep, user: HospitalDep, setl_id: str) -> Response:
    """One settlement's explanation of benefit, line by line, from the answer the hospital was given."""
    try:
        found = readable_settlement(session, user, setl_id)
    except ApiError as exc:
        if exc.status == 404:
            return not_found_page(request, f"结算 {setl_id}")
        raise
    context = {"e": eob_of(session=session, settlement=found), "active": "医院结算"}
    return render(request, "hospital_settlement.html", context)


@router.get("/hospital/settlements/{setl_id}/eob.pdf")
def settlement_pdf(request: Request, session: SessionDep, user: EobStaffDep, setl_id: str) -> Response:
    """The explanation of benefit as a PDF, for the hospital that sent it, the plan's adjusters and
    finance, and administrators."""
    return eob_pdf_response(session, readable_settlement(session, user, setl_id))


@router.get("/me/settlements", response_class=HTMLResponse)
def my_settlements(request: Request, session: SessionDep, user: ResidentDep) -> Response:
    """我的结算: the resident's own and their family's one-stop settlements, newest first."""
    rows = resident_settlements(session=session, psn_no=user.psn_no) if user.psn_no else []
    context = {"rows": rows, "kinds": KINDS, "statuses": STATUSES, "active": "我的结算"}
    return render(request, "my_settlements.html", context)


@router.get("/me/settlements/{setl_id}", response_class=HTMLResponse)
def my_settlement(request: Request, session: SessionDep, user: ResidentDep, setl_id: str) -> Response:
    """One of the resident's (or their family's) settlements, explained."""
    try:
        found = readable_settlement(session, user, setl_id)
    except ApiError as exc:
        if exc.status == 404:
            return not_found_page(request, f"结算 {setl_id}")
        raise
    context = {"e": eob_of(session=session, settlement=found), "active": "我的结算"}
    return render(request, "my_settlement.html", context)


@router.get("/me/settlements/{setl_id}/eob.pdf")
def my_settlement_pdf(request: Request, session: SessionDep, user: ResidentDep, setl_id: str) -> Response:
    return eob_pdf_response(session, readable_settlement(session, user, setl_id))


@router.get("/supervision/onestop", response_class=HTMLResponse)
def onestop_page(request: Request, session: SessionDep, user: OverseerDep, day: str = "") -> Response:
    """The day's one-stop settlements per hospital (by settlement time, Beijing time) and their total;
    finance counts its own consortium's plans only."""
    today = request.app.state.settings.platform_date()
    error = None
    try:
        chosen = _day(day) or today
    except ValueError:
        chosen, error = today, BAD_DATE
    rows = day_volume(session=session, day=chosen, plan_ids=visible_plans(user))
    context = {
        "day": chosen,
        "rows": rows,
        "total": day_total(rows),
        "error": error,
        "days": (chosen - timedelta(days=1), chosen + timedelta(days=1)),
        "active": "监管",
        "tab": "onestop",
    }
    return render(request, "supervision_onestop.html", context)


def _year_end_page(
    request: Request, session: SessionDep, user: User, plan_id: str, status_code: int = 200, **extra: object
) -> Response:
    if plan_id in {p.id for p in list_plans()}:
        check_plan(user, plan_id)
    plans = sorted(readable_plans(user), key=lambda p: (-p.year, p.id))
    plan = next((p for p in plans if p.id == plan_id), plans[0])
    run = last_year_end(session=session, plan_id=plan.id)
    admin = user.role is Role.ADMIN
    context = {
        "plans": plans,
        "plan": plan,
        "run": run,
        "run_at": run.at.astimezone(BEIJING) if run is not None else None,
        "beijing": BEIJING,
        "adjustments": list_adjustments(session=session, plan_id=plan.id),
        "names": {x.id: x.name for t in plan.tiers for x in t.liabilities},
        "admin": admin,
        "active": "管理" if admin else "监管",
        "tab": "year-end",
    }
    return render(request, "admin_year_end.html", context | extra, status_code=status_code)


@router.get("/admin/year-end", response_class=HTMLResponse)
def year_end_page(request: Request, session: SessionDep, user: YearEndDep, plan: str = "", done: str = "") -> Response:
    """The chosen plan's latest year-end run and every adjustment written so far, newest run's first;
    finance chooses among its own consortium's plans."""
    return _year_end_page(request, session, user, plan, ran=bool(done))


@router.post("/admin/year-end", response_class=HTMLResponse, dependencies=[Depends(check_csrf)])
def run_year_end(
    request: Request, session: SessionDep, user: YearEndDep, plan: Annotated[str, Form()] = ""
) -> Response:
    """Re-adjudicate the plan-year and write the adjustments (a second run writes nothing new), then show
    the result by redirecting, so that reloading the page does not post again. Finance runs it for its
    own consortium's plans only."""
    if plan not in {p.id for p in list_plans()}:
        return _year_end_page(request, session, user, plan, 422, error="请选择方案")
    check_plan(user, plan)
    try:
        year_end(session=session, actor=actor_of(request, user), plan_id=plan)
    except (PlanError, PlanIncomplete, PlanNotFound) as exc:
        session.rollback()
        return _year_end_page(request, session, user, plan, 422, error=f"方案 {plan} 无法重算：{exc}")
    session.commit()
    return RedirectResponse("/admin/year-end?" + urlencode({"plan": plan, "done": "1"}), status_code=303)
