"""``/api/plans``: the plans the platform knows, as data.

The detail route returns the validated ``Plan`` itself, so amounts are integer fen and
ratios basis points exactly as the engine uses them.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path
from pydantic import BaseModel

from huiminbao.plans import PLAN_ID_PATTERN, Plan, PlanNotFound, PlanStatus, list_plans, load_plan

router = APIRouter(prefix="/api/plans", tags=["plans"])


class LiabilityRef(BaseModel):
    id: str
    name: str


class TierSummary(BaseModel):
    id: str
    name: str
    liabilities: list[LiabilityRef]


class PlanSummary(BaseModel):
    id: str
    name: str
    city: str
    year: int
    status: PlanStatus
    tiers: list[TierSummary]

    @classmethod
    def of(cls, plan: Plan) -> PlanSummary:
        return cls(
            id=plan.id,
            name=plan.name,
            city=plan.city,
            year=plan.year,
            status=plan.status,
            tiers=[
                TierSummary(
                    id=t.id, name=t.name, liabilities=[LiabilityRef(id=li.id, name=li.name) for li in t.liabilities]
                )
                for t in plan.tiers
            ],
        )


@router.get("", response_model=list[PlanSummary], summary="List plans")
def get_plans() -> list[PlanSummary]:
    return [PlanSummary.of(p) for p in list_plans()]


@router.get("/{plan_id}", response_model=Plan, summary="One plan, in full")
def get_plan(plan_id: Annotated[str, Path(pattern=PLAN_ID_PATTERN)]) -> Plan:
    try:
        return load_plan(plan_id)
    except PlanNotFound as exc:
        raise HTTPException(status_code=404, detail=f"no plan {plan_id!r}") from exc
