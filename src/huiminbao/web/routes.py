"""Public pages of the web UI: the plan list (home), one plan's liabilities, e-policy verification."""

from __future__ import annotations

import re

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from huiminbao.access.policies import Public
from huiminbao.access.scope import check_plan, readable_plans
from huiminbao.db import SessionDep
from huiminbao.enrollment.models import Policy
from huiminbao.enrollment.policies import PolicyNotFound, verify
from huiminbao.identity.models import User
from huiminbao.plans import PLAN_ID_PATTERN, Plan, PlanNotFound, list_plans, load_plan
from huiminbao.web.templating import render

router = APIRouter(include_in_schema=False, dependencies=[Depends(Public())])  # sign-in pages come next


def _matches(plan: Plan, q: str) -> bool:
    q = q.strip().lower()
    return not q or any(q in str(v).lower() for v in (plan.id, plan.name, plan.city, plan.province, plan.year))


@router.get("/", response_class=HTMLResponse)
def home(request: Request, q: str = "") -> Response:
    plans = [p for p in list_plans() if _matches(p, q)]
    return render(request, "home.html", {"plans": plans, "q": q, "active": "方案"})


def refused_page(request: Request, status: int, message: str) -> Response:
    """A refusal on a web page (403, a lapsed form) as a page with the menu, not a JSON body."""
    return render(request, "refused.html", {"message": message, "active": ""}, status_code=status)


def overseen_plans(request: Request, session: Session, user: User, plan: str | None) -> tuple[list[Plan], Plan]:
    """The plans an overseer's page offers (newest first) and the one it shows: the one asked for (checked
    against the caller's consortium; ``PlanNotFound`` renders the not-found page), else the newest that
    holds policies and has begun by the platform's date, so a demo or a replayed year opens on its own year
    rather than on next year's empty plan."""
    plans = sorted(readable_plans(user), key=lambda p: (-p.year, p.id))
    if plan:
        chosen = load_plan(plan)
        check_plan(user, chosen.id)
        return plans, chosen
    today = request.app.state.settings.platform_date()
    held = set(session.scalars(sa.select(Policy.plan_id).distinct()))
    return plans, min(plans, key=lambda p: (p.id not in held, p.cover_start > today, -p.year, p.id))


def not_found_page(request: Request, what: str | None = None) -> Response:
    """The HTML 404 page, for web paths that lead nowhere."""
    context = {"what": what or f"页面 {request.url.path}", "active": ""}
    return render(request, "not_found.html", context, status_code=404)


@router.get("/plans/{plan_id}", response_class=HTMLResponse)
def plan_page(request: Request, plan_id: str) -> Response:
    try:
        plan = load_plan(plan_id) if re.fullmatch(PLAN_ID_PATTERN, plan_id) else None
    except PlanNotFound:
        plan = None
    if plan is None:
        return not_found_page(request, f"方案 {plan_id}")
    return render(request, "plan.html", {"plan": plan, "active": "方案"})


@router.get("/verify/{code}", response_class=HTMLResponse)
def verify_page(request: Request, session: SessionDep, code: str) -> Response:
    """Where the e-policy's QR code leads: valid or not, for which plan and period; nothing personal."""
    try:
        result = verify(session=session, code=code[:32], day=request.app.state.settings.platform_date())
    except PolicyNotFound:
        return render(request, "verify.html", {"result": None, "code": code[:32], "active": ""}, status_code=404)
    return render(request, "verify.html", {"result": result, "code": code, "active": ""})
