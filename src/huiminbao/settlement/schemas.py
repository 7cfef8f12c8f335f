"""Request and response shapes of the estimate (试算) API, as the OpenAPI document shows them.

Settlement records keep the national platform's field names, each typed and described in
OpenAPI (amounts as yuan: a string such as "3200.00" or a JSON number, at most two decimals).
Their values are checked by the one record reader in ``settlement`` (the same checks a batch
file gets), not here: pydantic only documents them and passes them on as given, unknown
fields included, so the reader can name whatever is wrong in Chinese.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model

from huiminbao.vocabulary import FEE_LINE_SCHEMA, LABELS, OPTIONAL_AMOUNTS, SETTLEMENT_AMOUNTS, SETTLEMENT_SCHEMA

Yuan = str | float | int
EXAMPLE = json.loads(
    (Path(__file__).resolve().parent / "example_case.json").read_text(encoding="utf-8")
)  # the two Liaocheng 2024 stays of examples/liaocheng-2024-two-stays.json


def _field(name: str, kind: Any) -> tuple[Any, Any]:
    text = LABELS.get(name, name)
    if name in SETTLEMENT_AMOUNTS or name in OPTIONAL_AMOUNTS or (name in FEE_LINE_SCHEMA and kind == "money"):
        return (Yuan | None, Field(None, description=f"{text}（元，最多两位小数）"))
    if name == "diseases":
        return (list[str] | str | None, Field(None, description=f"{text}：ICD-10 编码列表"))
    if name == "out_area_filed":
        return (bool | None, Field(None, description=text))
    return (str | None, Field(None, description=text))


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


FeeDetail = create_model(  # type: ignore[call-overload]
    "FeeDetail",
    __base__=_Open,
    __doc__="费用明细（feedetl）：国家医保平台字段名",
    **{n: _field(n, "money" if t.is_integer() else "text") for n, t in FEE_LINE_SCHEMA.items() if n != "setl_id"},
)
SetlInfo = create_model(  # type: ignore[call-overload]
    "SetlInfo",
    __base__=_Open,
    __doc__="结算信息（setlinfo）：国家医保平台字段名，金额单位元",
    **{n: _field(n, None) for n in SETTLEMENT_SCHEMA},
    feedetl=(list[FeeDetail] | None, Field(None, description="费用明细（feedetl）")),  # type: ignore[valid-type]
)


class CasePerson(_Open):
    psn_no: str = Field(description="人员编号")
    certno: str | None = Field(None, description="身份证号（校验后即弃，不保存、不回显）")
    insutype: str | None = Field(None, description="险种类型：310 职工 / 390 居民")
    birth_date: date | str | None = Field(None, description="出生日期")
    tier: str | None = Field(None, description="保障版本（方案有多个版本时）")
    preexisting: list[str] | str | None = Field(None, description="既往症 ICD-10 编码")
    populations: list[str] | str | None = Field(None, description="特殊人群标签，如 poverty_alleviated")
    insu_status: str | None = Field(None, description="基本医保参保状态：1 正常、2 暂停、4 终止")
    insu_status_date: date | str | None = Field(None, description="参保状态变更日期")


class EstimateCase(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [EXAMPLE]})

    plan: str = Field(description="方案 ID，如 liaocheng-2024")
    tier: str | None = Field(None, description="保障版本")
    person: CasePerson
    settlements: list[SetlInfo] = Field(min_length=1, description="结算信息（setlinfo），金额单位元")  # type: ignore[valid-type]


class EstimateLine(BaseModel):
    liability: str
    name: str
    base: str = Field(description="本责任的计算基数（元）")
    counted: str = Field(description="计入金额（元）：按比例计入后、扣除免赔额前")
    deductible_used: str = Field(description="本次扣除的免赔额（元）")
    ratio: str = Field(description="赔付比例")
    entitled: str = Field(description="应赔（元）：年度限额内")
    payout: str = Field(description="实赔（元）：年度累计限额内")
    reason: str | None = Field(None, description="少于计算基数的原因；没有可说明的为 null")


class EstimateSettlement(BaseModel):
    setl_id: str
    payout: str
    status: str = Field(description="covered 或不予赔付的原因代码（not_insured、outside_cover……）")
    reason: str | None = Field(None, description="整笔结算不予赔付的原因")
    lines: list[EstimateLine]


class EstimateResult(BaseModel):
    plan: str
    plan_status: str
    tier: str
    psn_no: str
    total_payout: str
    settlements: list[EstimateSettlement]
    warnings: list[str] | None = Field(None, description="方案中非原文数字（推定、示意）的提示")
