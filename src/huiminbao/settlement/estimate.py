"""Estimate (试算): adjudicate a person's settlements without saving anything.

The same engine as the real-time and batch paths, fed from one JSON case; the result
explains each settlement liability by liability, so a resident or a hospital clerk can
follow how the payout came about.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from huiminbao.engine.adjudicate import Adjudication, adjudicate
from huiminbao.engine.prepare import EngineError
from huiminbao.money import BP, bp_to_percent, round_half_up_div, to_yuan
from huiminbao.plans import Plan, PlanStatus, Tier, compiled_plan
from huiminbao.plans.schema import FigureStatus
from huiminbao.settlement.records import (
    RecordError,
    insured_frame,
    line_from_json,
    lines_frame,
    person_from_json,
    settlement_from_json,
    settlements_frame,
)


def parse_case(case: Mapping[str, Any]) -> tuple[str, dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    """Check a case and return (plan id, person row, settlement rows, fee-line rows) in fen."""
    if not isinstance(case, Mapping):
        raise RecordError("case", "(top)", "expected a JSON object")
    plan_id = case.get("plan")
    if not plan_id:
        raise RecordError("case", "plan", "missing")
    person = dict(case.get("person") or {})
    if case.get("tier") and not person.get("tier"):
        person["tier"] = case["tier"]
    person_row = person_from_json(person)
    settlements, lines = [], []
    raw = case.get("settlements")
    if not isinstance(raw, list) or not raw:
        raise RecordError("case", "settlements", "expected a non-empty list of setlinfo objects")
    seen: set[str] = set()
    for k, obj in enumerate(raw):
        obj = {"psn_no": person_row["psn_no"], "insutype": person_row["insutype"], **obj}
        row = settlement_from_json(obj, f"settlements[{k}]")
        if row["psn_no"] != person_row["psn_no"]:
            raise RecordError(
                f"settlement {row['setl_id']}", "psn_no", f"is not the case's person {person_row['psn_no']}"
            )
        if row["setl_id"] in seen:
            raise RecordError(f"settlement {row['setl_id']}", "setl_id", "appears twice")
        seen.add(row["setl_id"])
        settlements.append(row)
        lines += [line_from_json(line, row["setl_id"], i) for i, line in enumerate(obj.get("feedetl") or [])]
    return str(plan_id), person_row, settlements, lines


def explain(result: Adjudication, names: Mapping[str, str]) -> list[dict[str, Any]]:
    """Per settlement, its payout, status and reason, and one line per liability with its reason,
    amounts in yuan (the engine ran with ``explain``)."""
    by_setl: dict[str, list[dict[str, Any]]] = {}
    for line in result.lines.iter_rows(named=True):
        by_setl.setdefault(line["setl_id"], []).append(
            {
                "liability": line["liability"],
                "name": names.get(line["liability"], line["liability"]),
                "base": to_yuan(line["base"]),
                "counted": to_yuan(round_half_up_div(line["counted"], BP)),
                "deductible_used": to_yuan(round_half_up_div(line["deductible_used"], BP)),
                "ratio": bp_to_percent(line["ratio"]),
                "entitled": to_yuan(line["entitled"]),
                "payout": to_yuan(line["payout"]),
                "reason": line["reason"],
            }
        )
    return [
        {
            "setl_id": s["setl_id"],
            "payout": to_yuan(s["payout"]),
            "status": s["status"],
            "reason": s["reason"],
            "lines": by_setl.get(s["setl_id"], []),
        }
        for s in result.settlements.iter_rows(named=True)
    ]


def figure_warnings(plan: Plan, tier: Tier) -> list[str]:
    """Plain-Chinese warnings for the figures of this tier that are not taken from the source as written."""
    out = []
    if plan.status is PlanStatus.ILLUSTRATIVE:
        out.append(f"本方案金额为示意数据，不得用于实际理赔：{plan.status_note or ''}".rstrip("："))
    figures: list[tuple[str, Any]] = [(f"{p.population or '一般人群'}保费", p) for p in tier.premiums]
    for x in tier.ordered():
        figures += [(f"{x.name}免赔额", x.deductible), (f"{x.name}赔付比例", x.ratio), (f"{x.name}年度限额", x.limit)]
    figures += [(f"{d.name}", d) for d in tier.deductibles] + [("年度累计赔付限额", tier.overall_limit)]
    for what, fig in figures:
        if fig is not None and fig.status in (FigureStatus.ASSUMED, FigureStatus.ILLUSTRATIVE):
            kind = "为推定值" if fig.status is FigureStatus.ASSUMED else "为示意值"
            out.append(f"{what}{kind}：{fig.note}")
    return out


def estimate(case: Mapping[str, Any]) -> dict[str, Any]:
    """Adjudicate one person's case; raises RecordError / EngineError / plan errors on bad input."""
    plan_id, person, settlements, lines = parse_case(case)
    compiled = compiled_plan(plan_id)
    result = adjudicate(
        compiled,
        settlements_frame(settlements),
        insured_frame([person]),
        lines_frame(lines) if lines else None,
        explain=True,
    )
    tier = result.settlements["tier"][0] if result.settlements.height else compiled.plan.tier().id
    spec = compiled.plan.tier(tier)
    names = {liab.id: liab.name for liab in spec.liabilities}
    out: dict[str, Any] = {
        "plan": plan_id,
        "plan_status": compiled.plan.status.value,
        "tier": tier,
        "psn_no": person["psn_no"],
        "total_payout": to_yuan(int(result.settlements["payout"].sum())),
        "settlements": explain(result, names),
    }
    warnings = figure_warnings(compiled.plan, spec)
    if warnings:
        out["warnings"] = warnings
    return out


__all__ = ["EngineError", "RecordError", "estimate", "explain", "parse_case"]
