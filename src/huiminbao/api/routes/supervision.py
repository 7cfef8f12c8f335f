"""``/api/v1/supervision``: aggregates for the bureau and operators (small cells suppressed)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from huiminbao.access.policies import Allow
from huiminbao.api.errors import ERRORS
from huiminbao.api.routes.enrollment import plan_or_404
from huiminbao.db import SessionDep
from huiminbao.enrollment.stats import enrollment_cells
from huiminbao.identity.models import Role

router = APIRouter(prefix="/api/v1/supervision", tags=["supervision"])
OVERSEERS = Allow(Role.SUPERVISOR, Role.ADMIN, Role.ACTUARY, Role.FINANCE)


@router.get("/enrollment", responses=ERRORS, dependencies=[Depends(OVERSEERS)])
def enrollment(session: SessionDep, plan: Annotated[str, Query(min_length=1, max_length=64)]) -> dict:
    """Enrollment so far by district, insurance type and age band: insured persons, policies, rate;
    cells under 10 persons suppressed."""
    return enrollment_cells(session=session, plan=plan_or_404(plan).plan)
