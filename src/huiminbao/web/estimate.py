"""The 试算 page: a resident or a hospital clerk enters a few stays and sees what the plan pays.

The form's fields become a case in the national platform's terms (setlinfo amounts in
yuan) and go through the same ``settlement.estimate`` as the CLI and the API.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from huiminbao.engine.prepare import EngineError
from huiminbao.plans import PlanIncomplete, PlanNotFound, list_plans, missing_figures
from huiminbao.settlement.estimate import estimate
from huiminbao.settlement.reader import RecordError
from huiminbao.web.templating import templates

router = APIRouter(include_in_schema=False)
ROWS = 3
MED_TYPES = {"21": "住院", "14": "门诊慢特病", "11": "普通门诊"}


def _usable_plans() -> list[Any]:
    return [p for p in list_plans() if not any(missing_figures(p, t) for t in p.tiers)]


def _amount(form: dict[str, str], name: str) -> Decimal:
    text = (form.get(name) or "").strip().replace(",", "") or "0"
    try:
        return Decimal(text)
    except InvalidOperation as exc:
        raise RecordError("表单", name, f"“{text}”不是金额（{name}）") from exc


def case_from_form(form: dict[str, str]) -> dict[str, Any]:
    """Turn the form into a case: each filled row is one settlement whose amounts add up."""
    plan = next((p for p in list_plans() if p.id == form.get("plan")), None)
    region = plan.region_code if plan else "000000"
    settlements = []
    for k in range(ROWS):
        inscp, fund = _amount(form, f"inscp_{k}"), _amount(form, f"fund_{k}")
        preself, ownpay = _amount(form, f"preself_{k}"), _amount(form, f"ownpay_{k}")
        if not any((inscp, fund, preself, ownpay)):
            continue
        day = form.get(f"date_{k}") or (f"{plan.year}-01-01" if plan else "")
        total = inscp + preself + ownpay
        settlements.append(
            {
                "setl_id": f"W{k + 1}",
                "med_type": form.get(f"med_type_{k}", "21"),
                "begndate": day,
                "enddate": day,
                "setl_time": f"{day} 12:00:{k:02d}",
                "medfee_sumamt": str(total),
                "inscp_scp_amt": str(inscp),
                "preselfpay_amt": str(preself),
                "fulamt_ownpay_amt": str(ownpay),
                "overlmt_selfpay": "0",
                "hifp_pay": str(fund),
                "fund_pay_sumamt": str(fund),
                "psn_part_amt": str(total - fund),
                "psn_cash_pay": str(total - fund),
                "insu_admdvs": region,
                "mdtrt_area_admvs": region,
            }
        )
    if not settlements:
        raise RecordError("表单", "费用", "请至少填写一次就医的费用")
    codes = [c.strip() for c in (form.get("preexisting") or "").replace("，", ",").split(",") if c.strip()]
    return {
        "plan": form.get("plan"),
        "person": {
            "psn_no": "试算",
            "insutype": form.get("insutype") or "390",
            "birth_date": form.get("birth_date") or None,
            "preexisting": codes,
            "populations": ["poverty_lifted"] if form.get("poverty_lifted") else [],
        },
        "settlements": settlements,
    }


@router.get("/estimate", response_class=HTMLResponse)
def estimate_page(request: Request) -> HTMLResponse:
    context = {"plans": _usable_plans(), "rows": range(ROWS), "med_types": MED_TYPES, "active": "试算"}
    return templates.TemplateResponse(request, "estimate.html", context)


@router.post("/estimate", response_class=HTMLResponse)
async def estimate_result(request: Request) -> HTMLResponse:
    form = {k: str(v) for k, v in (await request.form()).items()}
    try:
        result, error = estimate(case_from_form(form)), None
    except (RecordError, EngineError, PlanIncomplete, PlanNotFound) as exc:
        result, error = None, str(exc)
    return templates.TemplateResponse(request, "_estimate_result.html", {"result": result, "error": error})
