"""Plans as data: one YAML file per city, year (and tiers), validated on load."""

from huiminbao.plans.loader import (
    Compiled,
    PlanError,
    PlanIncomplete,
    PlanNotFound,
    compiled_plan,
    list_plans,
    load_plan,
    load_plan_file,
    load_plan_text,
    missing_figures,
    require_known,
    underwritten_by,
)
from huiminbao.plans.schema import PLAN_ID_PATTERN, Consortium, Liability, Plan, PlanStatus, Tier

__all__ = [
    "PLAN_ID_PATTERN",
    "Compiled",
    "Consortium",
    "Liability",
    "Plan",
    "PlanError",
    "PlanIncomplete",
    "PlanNotFound",
    "PlanStatus",
    "Tier",
    "compiled_plan",
    "list_plans",
    "load_plan",
    "load_plan_file",
    "load_plan_text",
    "missing_figures",
    "require_known",
    "underwritten_by",
]
