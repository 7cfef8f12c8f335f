"""Estimate (试算): adjudicate a person's settlements without saving anything.

The same engine as the real-time and batch paths, fed from one JSON case; the result
explains each settlement liability by liability, so a resident or a hospital clerk can
follow how the payout came about.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import polars as pl

from huiminbao.engine.adjudicate import Adjudication, adjudicate
from huiminbao.engine.prepare import EngineError
from huiminbao.engine.run import sized
from huiminbao.money import BP, bp_to_percent, round_half_up_div, to_yuan
from huiminbao.plans import Plan, PlanStatus, Tier, compiled_plan
from huiminbao.plans.schema import FigureStatus
from huiminbao.settlement.reader import RecordError, check_fee_lines, check_persons, check_settlements, json_frame
from huiminbao.vocabulary import label


def parse_case(case: Mapping[str, Any]) -> tuple[str, pl.DataFrame, pl.DataFrame, pl.DataFrame | None]:
    """Check a case with the one record reader; return (plan id, person, settlements, fee lines) in fen.

    The person must be born before each stay; each settlement is the person's (its ``psn_no`` and
    ``insutype`` default to the person's)."""
    if not isinstance(case, Mapping):
        raise RecordError("试算", "(top)", "应为 JSON 对象")
    plan_id = case.get("plan")
    if not plan_id:
        raise RecordError("试算", "plan", "缺少方案（plan）")
    if not isinstance(case.get("person"), Mapping):
        raise RecordError("参保人", "person", "应为参保人信息（JSON 对象）")
    person = dict(case["person"])
    if case.get("tier") and not person.get("tier"):
        person["tier"] = case["tier"]
    if not person.get("psn_no"):
        raise RecordError("参保人", "psn_no", f"缺少{label('psn_no')}")
    with sized(1):  # one person: the reader's queries run in memory
        people = check_persons(json_frame([person]), "参保人")
    raw = case.get("settlements")
    if not isinstance(raw, list) or not raw or not all(isinstance(x, Mapping) for x in raw):
        raise RecordError("试算", "settlements", "应为至少一条结算信息（setlinfo）的列表")
    psn_no = str(person["psn_no"])
    rows, lines = [], []
    for k, obj in enumerate(raw):
        row = {"psn_no": psn_no, "insutype": person.get("insutype"), **obj}
        row.setdefault("setl_id", f"#{k + 1}")
        if str(row["psn_no"]) != psn_no:
            raise RecordError(f"结算 {row['setl_id']}", "psn_no", f"{label('psn_no')}不是本次试算的参保人 {psn_no}")
        feedetl = row.pop("feedetl", None) or []
        if not isinstance(feedetl, list) or not all(isinstance(x, Mapping) for x in feedetl):
            raise RecordError(f"结算 {row['setl_id']}", "feedetl", "费用明细应为列表")
        lines += [{"setl_id": row["setl_id"], "feedetl_sn": str(i + 1), **ln} for i, ln in enumerate(feedetl)]
        rows.append(row)
    with sized(len(rows) + len(lines)):
        settlements = check_settlements(json_frame(rows), "结算信息")
        fee_lines = check_fee_lines(json_frame(lines), "费用明细") if lines else None
    birth = people["birth_date"][0]
    if birth is not None:
        early = settlements.filter(pl.col("begndate") < birth)
        if early.height:
            setl_id = early["setl_id"][0]
            raise RecordError(
                f"结算 {setl_id}", "begndate", f"{label('begndate')}早于参保人的{label('birth_date')} {birth}"
            )
    return str(plan_id), people, settlements, fee_lines


def explain(result: Adjudication, names: Mapping[str, str]) -> list[dict[str, Any]]:
    """Per settlement, its payout, status and reason, and one line per liability with its reason,
    amounts in yuan (the engine ran with ``explain``)."""
    by_setl: dict[str, list[dict[str, Any]]] = {}
    for line in result.lines.iter_rows(named=True):
        by_setl.setdefault(line["setl_id"], []).append(explain_line(line, names))
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


def explain_line(line: Mapping[str, Any], names: Mapping[str, str]) -> dict[str, Any]:
    """One engine line (explained) as INTERFACES.md's explanation line, amounts in yuan: the estimate
    and the one-stop answer print lines the same way."""
    return {
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
    result = adjudicate(compiled, settlements, person, lines, explain=True)
    tier = result.settlements["tier"][0] if result.settlements.height else compiled.plan.tier().id
    spec = compiled.plan.tier(tier)
    names = {liab.id: liab.name for liab in spec.liabilities}
    out: dict[str, Any] = {
        "plan": plan_id,
        "plan_status": compiled.plan.status.value,
        "tier": tier,
        "psn_no": person["psn_no"][0],
        "total_payout": to_yuan(int(result.settlements["payout"].sum())),
        "settlements": explain(result, names),
    }
    warnings = figure_warnings(compiled.plan, spec)
    if warnings:
        out["warnings"] = warnings
    return out


__all__ = ["EngineError", "RecordError", "estimate", "explain", "parse_case"]
