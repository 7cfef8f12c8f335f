"""``/api/v1/supervision``: aggregates for the bureau and operators (small cells suppressed)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from huiminbao.access.policies import Allow
from huiminbao.access.scope import check_plan
from huiminbao.api.errors import ERRORS
from huiminbao.api.routes.enrollment import plan_or_404
from huiminbao.db import SessionDep
from huiminbao.enrollment.stats import enrollment_cells
from huiminbao.identity.models import Role, User

router = APIRouter(prefix="/api/v1/supervision", tags=["supervision"])
OVERSEERS = Allow(Role.SUPERVISOR, Role.ADMIN, Role.ACTUARY, Role.FINANCE)


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
