"""``/api/v1/supervision``: aggregates for the bureau and operators (small cells suppressed)."""

from __future__ import annotations

from datetime import date
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request, Response

from huiminbao.access.errors import ApiError
from huiminbao.access.policies import Allow, actor_of
from huiminbao.access.scope import check_plan
from huiminbao.api.errors import ERRORS
from huiminbao.api.routes.enrollment import plan_or_404
from huiminbao.db import SessionDep
from huiminbao.enrollment.stats import enrollment_cells
from huiminbao.identity.models import Role, User
from huiminbao.supervision import figures, lossratio
from huiminbao.supervision.reports import Kind, PeriodError, take

router = APIRouter(prefix="/api/v1/supervision", tags=["supervision"])
OVERSEERS = Allow(Role.SUPERVISOR, Role.ADMIN, Role.ACTUARY, Role.FINANCE)
DASHBOARD = Allow(Role.SUPERVISOR, Role.ADMIN, Role.FINANCE)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@router.get("/enrollment", responses=ERRORS)
def enrollment(
    session: SessionDep,
    user: Annotated[User, Depends(OVERSEERS)],
    plan: Annotated[str, Query(min_length=1, max_length=64)],
) -> dict:
    """Enrollment so far by district, insurance type and age band: insured persons, policies, rate;
    cells under 10 persons suppressed. Finance reads its own consortium's plans only."""
    chosen = plan_or_404(plan).plan
    check_plan(user, chosen.id)
    return enrollment_cells(session=session, plan=chosen)


def valuation(request: Request, as_of: date | None) -> date:
    """The day figures are valued at: the app's platform today (as the dashboards and reports take it)
    unless an earlier day is asked for; a later one would only widen the triangle with months nothing can
    have been paid in."""
    day = request.app.state.settings.platform_date()
    if as_of is not None and as_of > day:
        raise ApiError(422, "as_of_in_future", f"统计日不能晚于今天（{day}）", "as_of")
    return as_of or day


@router.get("/loss-ratio", responses=ERRORS)
def loss_ratio(
    request: Request,
    session: SessionDep,
    user: Annotated[User, Depends(OVERSEERS)],
    plan: Annotated[str, Query(min_length=1, max_length=64)],
    as_of: Annotated[date | None, Query(description="统计日，默认今天")] = None,
) -> dict:
    """Loss ratio of each year the plan is judged on (earned premium, paid, case reserves, IBNR, incurred)
    and their average against the plan's floor, with warnings; the bases of the figures are in ``basis``."""
    chosen = plan_or_404(plan).plan
    check_plan(user, chosen.id)
    return lossratio.loss_ratio(session=session, plan=chosen, as_of=valuation(request, as_of))


@router.get("/ibnr", responses=ERRORS)
def ibnr(
    request: Request,
    session: SessionDep,
    user: Annotated[User, Depends(OVERSEERS)],
    plan: Annotated[str, Query(min_length=1, max_length=64)],
    as_of: Annotated[date | None, Query(description="统计日，默认今天")] = None,
) -> dict:
    """The plan-year's cumulative paid triangle (month of care x months to settlement), its age-to-age and
    cumulative factors, and latest, ultimate and IBNR per month of care and in total."""
    chosen = plan_or_404(plan).plan
    check_plan(user, chosen.id)
    return lossratio.ibnr(session=session, plan=chosen, as_of=valuation(request, as_of))


@router.get("/dashboard", responses=ERRORS)
def dashboard(
    request: Request,
    session: SessionDep,
    user: Annotated[User, Depends(DASHBOARD)],
    plan: Annotated[str, Query(min_length=1, max_length=64)],
    start: Annotated[date | None, Query(description="first day of the period (inclusive)")] = None,
    end: Annotated[date | None, Query(description="last day of the period (inclusive)")] = None,
) -> dict:
    """Every dashboard figure of the plan for the period (the whole plan without dates): enrollment and
    renewal, premium, payouts, the people who benefited, claim times and complaints, as the dashboards show
    them; amounts in yuan, ratios in basis points (``*_bp``); persons under 10 suppressed (None, with
    ``suppressed``); and ``loss_ratio`` as ``GET /loss-ratio`` gives it, valued at the period's end (the
    platform's today when there is none or it is later). Finance reads its own consortium's plans only."""
    chosen = plan_or_404(plan).plan
    check_plan(user, chosen.id)
    if start and end and start > end:
        raise ApiError(422, "bad_period", "开始日期不能晚于结束日期", "start")
    today = request.app.state.settings.platform_date()
    body = figures.to_edge(figures.dashboard(session=session, plan=chosen, start=start, end=end, today=today))
    day = lossratio.valued_on(end, today)
    return {**body, "loss_ratio": lossratio.loss_ratio(session=session, plan=chosen, as_of=day)}


@router.get(
    "/reports/{kind}",
    responses={**ERRORS, 200: {"content": {XLSX: {}}, "description": "the workbook"}},
    response_class=Response,
)
def report(
    request: Request,
    session: SessionDep,
    user: Annotated[User, Depends(DASHBOARD)],
    kind: Kind,
    plan: Annotated[str, Query(min_length=1, max_length=64)],
    period: Annotated[
        str | None, Query(max_length=16, description="monthly: YYYY-MM; annual: the plan's year (default)")
    ] = None,
) -> Response:
    """The regulator's monthly or annual workbook (.xlsx) of the plan; the download is audited. Finance
    takes its own consortium's plans only; a period outside the plan is 422 naming ``period``."""
    return download(request, session, user, kind, plan, period)


def download(request: Request, session: SessionDep, user: User, kind: Kind, plan: str, period: str | None) -> Response:
    """Make the report for the signed-in user, audit it, and send it as an attachment: an ASCII
    ``filename`` for old clients and the Chinese name as ``filename*`` (RFC 6266). Shared by the page."""
    chosen = plan_or_404(plan).plan
    check_plan(user, chosen.id)
    try:
        made = take(session=session, actor=actor_of(request, user), plan=chosen, kind=kind, period=period,
                    today=request.app.state.settings.platform_date())  # fmt: skip
    except PeriodError as exc:
        raise ApiError(422, "bad_period", exc.message, exc.field) from None
    session.commit()
    disposition = f"attachment; filename=\"{made.ascii_name}\"; filename*=UTF-8''{quote(made.name)}"
    return Response(made.data, media_type=XLSX, headers={"Content-Disposition": disposition})
