"""``/api/v1/plans``: the plans the platform knows, as data, amounts in yuan and ratios as written.

Inside, a plan holds fen and basis points; at this edge every amount is yuan text with two
decimals ("16000.00") and every ratio a percentage ("80%"), as the plan file writes them.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel

from huiminbao.access.policies import Public
from huiminbao.api.errors import ERRORS
from huiminbao.money import bp_to_percent, to_yuan
from huiminbao.plans import PLAN_ID_PATTERN, Plan, PlanStatus, list_plans, load_plan

router = APIRouter(prefix="/api/v1/plans", tags=["plans"], dependencies=[Depends(Public())])
MONEY_KEYS = {"amount"}  # every Fen field of the plan schema is called amount
RATIO_KEYS = {"ratio", "factor", "loss_ratio_floor", "share"}  # Bp fields; a Ratio's own "default" too


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


def in_yuan(value: Any, key: str = "", parent: str = "") -> Any:
    """The plan as JSON with fen as yuan text and basis points as percentages."""
    if isinstance(value, dict):
        return {k: in_yuan(v, k, key) for k, v in value.items()}
    if isinstance(value, list):
        return [in_yuan(v, key, parent) for v in value]
    if isinstance(value, int) and not isinstance(value, bool):
        if key in MONEY_KEYS:
            return to_yuan(value)
        if key in RATIO_KEYS or (key == "default" and parent == "ratio"):
            return bp_to_percent(value)
    return value


@router.get("", response_model=list[PlanSummary], summary="List plans", responses=ERRORS)
def get_plans() -> list[PlanSummary]:
    return [PlanSummary.of(p) for p in list_plans()]


@router.get("/{plan_id}", summary="One plan, in full (amounts in yuan, ratios in %)", responses=ERRORS)
def get_plan(plan_id: Annotated[str, Path(pattern=PLAN_ID_PATTERN)]) -> dict[str, Any]:
    return in_yuan(load_plan(plan_id).model_dump(mode="json"))
