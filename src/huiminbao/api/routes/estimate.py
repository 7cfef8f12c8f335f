"""``POST /api/estimate``: 试算, the engine on one person's settlements, nothing saved."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException

from huiminbao.engine.prepare import EngineError
from huiminbao.plans import PlanIncomplete, PlanNotFound
from huiminbao.settlement.estimate import estimate
from huiminbao.settlement.records import RecordError
from huiminbao.settlement.schemas import EstimateCase, EstimateResult

router = APIRouter(prefix="/api", tags=["estimate"])


@router.post(
    "/estimate",
    response_model=EstimateResult,
    response_model_exclude_none=True,
    responses={404: {"description": "unknown plan"}, 422: {"description": "bad record: names the record and field"}},
)
def post_estimate(case: EstimateCase) -> dict:
    """Estimate what the plan pays on these settlements, liability by liability; saves nothing."""
    try:
        return estimate(case.model_dump(mode="json", exclude_none=True))
    except PlanNotFound as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from exc
    except (RecordError, EngineError, PlanIncomplete) as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from exc
