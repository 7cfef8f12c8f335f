"""``POST /api/v1/estimate``: 试算, the engine on one person's settlements, nothing saved."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from huiminbao.access.policies import Allow
from huiminbao.api.errors import ERRORS
from huiminbao.settlement.estimate import estimate
from huiminbao.settlement.schemas import EstimateCase, EstimateResult

router = APIRouter(prefix="/api/v1", tags=["estimate"], dependencies=[Depends(Allow())])


@router.post("/estimate", response_model=EstimateResult, response_model_exclude_none=False, responses=ERRORS)
def post_estimate(case: EstimateCase) -> dict:
    """Estimate what the plan pays on these settlements, liability by liability, each line with the
    reason it paid less than its base; saves nothing. Any signed-in user. Bad records answer 422
    naming record and field."""
    return estimate(case.model_dump(mode="json", exclude_none=True))
