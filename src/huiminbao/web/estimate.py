"""The 试算 page: a resident or a hospital clerk enters a few stays and sees what the plan pays, and why.

The form's fields become a case in the national platform's terms (setlinfo amounts in yuan, a
fee line for a catalog drug) and go through the same ``settlement.estimate`` as the CLI and the
API. What the form offers follows the plans: their tiers, the population tags their rules read,
the drugs of their catalogs, their cover years.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import HTMLResponse

from huiminbao.access.policies import Public, check_csrf
from huiminbao.engine.prepare import EngineError
from huiminbao.money import MAX_FEN, to_fen, to_yuan
from huiminbao.plans import Plan, PlanIncomplete, PlanNotFound, compiled_plan, list_plans, missing_figures
from huiminbao.plans.catalog import CatalogKind
from huiminbao.settlement.estimate import estimate
from huiminbao.settlement.reader import RecordError
from huiminbao.vocabulary import POPULATIONS
from huiminbao.web.templating import render

router = APIRouter(include_in_schema=False, dependencies=[Depends(Public())])  # sign-in pages come next
MAX_STAYS = 20
MED_TYPES = {"21": "住院", "14": "门诊慢特病", "11": "普通门诊", "41": "定点药店购药"}
AMOUNTS = {
    "inscp": "医保范围内费用",
    "fund": "基本医保统筹支付",
    "hifmi": "大病保险支付",
    "ci_scope": "大病保险政策范围内金额",
    "preself": "乙类先行自付",
    "ownpay": "全自费",
    "drug_amount": "药品自费金额",
}


@dataclass(frozen=True)
class Choice:
    """An entry of one of a plan's catalogs (a drug or an institution) offered on the form."""

    plan: str
    catalog: str
    code: str
    name: str


def _usable_plans() -> list[Plan]:
    return [p for p in list_plans() if not any(missing_figures(p, t) for t in p.tiers)]


def _texts(plan_id: str) -> str:
    compiled = compiled_plan(plan_id)
    exprs = [t.assign for t in compiled.tiers] + [
        r.when
        for t in compiled.tiers
        for x in t.liabilities
        for r in (*x.requires, *x.counting, *x.exclusions, *x.ratios, *x.deductible_rules)
    ]
    exprs += [r.when for t in compiled.tiers for rules in t.deductible_rules.values() for r in rules]
    return " ".join(e.text for e in exprs if e is not None)


def _entries(plans: list[Plan], kind: CatalogKind) -> list[Choice]:
    """The entries of the plans' catalogs of one kind, for the form's choices."""
    return [
        Choice(p.id, cat.name.removesuffix("（示意）"), e.code, e.name or e.code)
        for p in plans
        for cat in compiled_plan(p.id).catalog_files.values()
        if cat.kind is kind
        for e in cat.entries
    ]


def _page_context(plans: list[Plan]) -> dict[str, Any]:
    texts = {p.id: _texts(p.id) for p in plans}
    populations = {
        tag: (text, [pid for pid, t in texts.items() if f"'{tag}'" in t])
        for tag, text in POPULATIONS.items()
        if any(f"'{tag}'" in t for t in texts.values())
    }
    drugs, institutions = _entries(plans, CatalogKind.DRUG), _entries(plans, CatalogKind.INSTITUTION)
    ci_plans = [p.id for p in plans if "hifmi_inscp_scp_amt" in compiled_plan(p.id).fields]
    default = next((p for p in plans if p.id == "liaocheng-2024"), plans[0] if plans else None)
    return {
        "plans": plans,
        "default_plan": default.id if default else "",
        "default_day": f"{default.cover_start.replace(month=3, day=10)}" if default else "",
        "populations": populations,
        "drugs": drugs,
        "institutions": institutions,
        "ci_plans": ci_plans,
        "med_types": MED_TYPES,
        "active": "试算",
    }


def _amount(form: dict[str, Any], name: str, k: int) -> int:
    """A form amount in fen: a number of yuan, not negative, at most two decimals, within range."""
    what = f"第 {k + 1} 次就医的{AMOUNTS[name]}"
    text = str(form.get(f"{name}_{k}") or "").strip().replace(",", "").replace("，", "") or "0"
    try:
        value = Decimal(text)
    except InvalidOperation as exc:
        raise RecordError("表单", f"{name}_{k}", f"{what}“{text}”不是金额") from exc
    if not value.is_finite() or value < 0:
        raise RecordError("表单", f"{name}_{k}", f"{what}应为不小于 0 的金额")
    if value * 100 > MAX_FEN:
        raise RecordError("表单", f"{name}_{k}", f"{what}超出合理范围（至多 {to_yuan(MAX_FEN)} 元）")
    if value * 100 != int(value * 100):
        raise RecordError("表单", f"{name}_{k}", f"{what}最多两位小数")
    return to_fen(value)


def _care_area(region: str, where: str) -> str:
    """A 6-digit area code for 'in the city', 'elsewhere in the province' or 'outside the province'."""
    if where == "province":
        return region[:2] + ("0200" if region[2:4] == "01" else "0100")
    if where == "outside":
        return "310101" if region.startswith("11") else "110105"
    return region


def case_from_form(form: dict[str, Any]) -> dict[str, Any]:
    """Turn the form into a case: each stay with an amount is one settlement whose amounts add up."""
    plan = next((p for p in list_plans() if p.id == form.get("plan")), None)
    if plan is None:
        raise RecordError("表单", "plan", "请选择方案")
    tier = form.get("tier") or None
    if tier is not None and tier not in {t.id for t in plan.tiers}:
        raise RecordError("表单", "tier", f"方案 {plan.name} 没有所选的保障版本")
    settlements = []
    for k in range(MAX_STAYS):
        if f"date_{k}" not in form and f"inscp_{k}" not in form:
            continue
        fen = {name: _amount(form, name, k) for name in AMOUNTS}
        if not any(fen.values()):
            continue
        day = form.get(f"date_{k}") or str(plan.cover_start)
        ownpay = fen["ownpay"] + fen["drug_amount"]
        total = fen["inscp"] + fen["preself"] + ownpay
        funds = fen["fund"] + fen["hifmi"]
        if funds > fen["inscp"]:
            raise RecordError("表单", f"fund_{k}", f"第 {k + 1} 次就医的基金支付合计不能超过医保范围内费用")
        stay: dict[str, Any] = {
            "setl_id": f"第{k + 1}次",
            "med_type": form.get(f"med_type_{k}") or "21",
            "begndate": day,
            "enddate": day,
            "setl_time": f"{day} 12:00:00",
            "medfee_sumamt": to_yuan(total),
            "inscp_scp_amt": to_yuan(fen["inscp"]),
            "preselfpay_amt": to_yuan(fen["preself"]),
            "fulamt_ownpay_amt": to_yuan(ownpay),
            "overlmt_selfpay": "0.00",
            "hifp_pay": to_yuan(fen["fund"]),
            "hifmi_pay": to_yuan(fen["hifmi"]),
            "fund_pay_sumamt": to_yuan(funds),
            "insu_admdvs": plan.region_code,
            "mdtrt_area_admvs": _care_area(plan.region_code, str(form.get(f"area_{k}") or "city")),
            "out_area_filed": bool(form.get(f"filed_{k}")),
        }
        institution = str(form.get(f"institution_{k}") or "")
        if institution:
            stay["fixmedins_code"] = institution
        if form.get(f"ci_scope_{k}"):
            stay["hifmi_inscp_scp_amt"] = to_yuan(fen["ci_scope"])
        drug = str(form.get(f"drug_{k}") or "")
        if drug and fen["drug_amount"]:
            amount = to_yuan(fen["drug_amount"])
            stay["feedetl"] = [
                {
                    "med_list_codg": drug,
                    "chrgitm_lv": "03",
                    "med_chrgitm_type": "09",
                    "det_item_fee_sumamt": amount,
                    "fulamt_ownpay_amt": amount,
                    "preselfpay_amt": "0.00",
                    "inscp_scp_amt": "0.00",
                    "overlmt_amt": "0.00",
                }
            ]
        settlements.append(stay)
    if not settlements:
        raise RecordError("表单", "费用", "请至少填写一次就医的费用")
    codes = [c.strip() for c in str(form.get("preexisting") or "").replace("，", ",").split(",") if c.strip()]
    populations = form.get("population") or []
    return {
        "plan": plan.id,
        "tier": tier,
        "person": {
            "psn_no": "试算",
            "insutype": form.get("insutype") or "390",
            "birth_date": form.get("birth_date") or None,
            "preexisting": codes,
            "populations": populations if isinstance(populations, list) else [populations],
        },
        "settlements": settlements,
    }


def in_plan_order(result: dict[str, Any]) -> dict[str, Any]:
    """Lines in the order the plan page lists the tier's liabilities."""
    order = [x.id for x in compiled_plan(result["plan"]).tier(result["tier"]).spec.liabilities]
    for s in result["settlements"]:
        s["lines"].sort(key=lambda line: order.index(line["liability"]))
    return result


@router.get("/estimate", response_class=HTMLResponse)
def estimate_page(request: Request) -> Response:
    return render(request, "estimate.html", _page_context(_usable_plans()))


@router.post("/estimate", response_class=HTMLResponse, dependencies=[Depends(check_csrf)])
async def estimate_result(request: Request) -> Response:
    raw = await request.form()
    form: dict[str, Any] = {k: str(v) for k, v in raw.items()}
    form["population"] = [str(v) for v in raw.getlist("population")]
    try:
        result, error = in_plan_order(estimate(case_from_form(form))), None
    except (RecordError, EngineError, PlanIncomplete, PlanNotFound) as exc:
        result, error = None, str(exc)
    return render(request, "_estimate_result.html", {"result": result, "error": error})
