"""Request and response shapes of the estimate (试算) API, as the OpenAPI document shows them.

Settlements stay free-form objects with the national platform's field names (setlinfo,
with ``feedetl`` lines): they are checked field by field by ``settlement.records``, which
names the settlement and field of any error.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class CasePerson(BaseModel):
    psn_no: str = Field(description="人员编号")
    certno: str | None = Field(None, description="身份证号 (checked, never stored or echoed)")
    insutype: str | None = Field(None, description="310 职工 / 390 居民")
    birth_date: date | None = None
    tier: str | None = None
    preexisting: list[str] = Field(default_factory=list, description="既往症 ICD-10 codes")
    populations: list[str] = Field(default_factory=list, description="special-population tags, e.g. poverty_lifted")


class EstimateCase(BaseModel):
    model_config = ConfigDict(json_schema_extra={"example": {"plan": "liaocheng-2024", "person": {"psn_no": "P1"}}})

    plan: str
    tier: str | None = None
    person: CasePerson
    settlements: list[dict[str, Any]] = Field(min_length=1, description="setlinfo objects, amounts in yuan")


class EstimateLine(BaseModel):
    liability: str
    name: str
    base: str
    counted: str
    deductible_used: str
    ratio: str
    entitled: str
    payout: str


class EstimateSettlement(BaseModel):
    setl_id: str
    payout: str
    lines: list[EstimateLine]


class EstimateResult(BaseModel):
    plan: str
    plan_status: str
    tier: str
    psn_no: str
    total_payout: str
    settlements: list[EstimateSettlement]
    warning: str | None = None
