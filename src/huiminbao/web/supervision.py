"""监管: enrollment so far by district, insurance type and age band, the loss ratio with its IBNR, and the
regulator's monthly and annual workbooks to download (``supervision.reports``), for the bureau and operators."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import HTMLResponse

from huiminbao.access.policies import SignedIn
from huiminbao.api.routes.supervision import download, valuation
from huiminbao.db import SessionDep
from huiminbao.enrollment.stats import enrollment_cells
from huiminbao.identity.models import Role, User
from huiminbao.supervision import lossratio
from huiminbao.supervision.reports import Kind, months
from huiminbao.vocabulary import INSUTYPES_KNOWN
from huiminbao.web.routes import overseen_plans
from huiminbao.web.templating import render

router = APIRouter(prefix="/supervision", include_in_schema=False)
OverseerDep = Annotated[User, Depends(SignedIn(Role.SUPERVISOR, Role.ADMIN, Role.ACTUARY, Role.FINANCE))]
ReportsDep = Annotated[User, Depends(SignedIn(Role.SUPERVISOR, Role.ADMIN, Role.FINANCE))]


@router.get("/enrollment", response_class=HTMLResponse)
def enrollment_page(request: Request, session: SessionDep, user: OverseerDep, plan: str | None = None) -> Response:
    """Enrollment so far of the chosen plan; finance chooses among its own consortium's plans."""
    plans, chosen = overseen_plans(request, session, user, plan)
    stats = enrollment_cells(session=session, plan=chosen)
    context = {"plans": plans, "plan": chosen, "stats": stats, "insutypes": INSUTYPES_KNOWN, "active": "监管"}
    return render(request, "supervision_enrollment.html", context)


@router.get("/loss-ratio", response_class=HTMLResponse)
def loss_ratio_page(
    request: Request, session: SessionDep, user: OverseerDep, plan: str | None = None, as_of: date | None = None
) -> Response:
    """The loss ratio of each year the chosen plan is judged on, their average against the plan's floor with
    the warning when it falls short, and the plan-year's paid triangle with its chain-ladder factors."""
    plans, chosen = overseen_plans(request, session, user, plan)
    day = valuation(request, as_of)
    figures = lossratio.loss_ratio(session=session, plan=chosen, as_of=day)
    triangle = lossratio.ibnr(session=session, plan=chosen, as_of=day)
    context = {"plans": plans, "plan": chosen, "lr": figures, "tri": triangle, "as_of": day, "active": "监管"}
    return render(request, "supervision_loss_ratio.html", context)


@router.get("/reports", response_class=HTMLResponse)
def reports_page(request: Request, session: SessionDep, user: ReportsDep, plan: str | None = None) -> Response:
    """The chosen plan's annual report and a monthly one per month of its enrollment and cover, to download;
    finance chooses among its own consortium's plans."""
    plans, chosen = overseen_plans(request, session, user, plan)
    context = {
        "plans": plans,
        "plan": chosen,
        "months": months(session=session, plan=chosen),
        "active": "监管",
        "tab": "reports",
    }
    return render(request, "supervision_reports.html", context)


@router.get("/reports/{kind}.xlsx")
def report_file(
    request: Request, session: SessionDep, user: ReportsDep, kind: Kind, plan: str, period: str | None = None
) -> Response:
    """The workbook itself, as the API gives it (audited; a bad period is refused with its reason)."""
    return download(request, session, user, kind, plan, period)
