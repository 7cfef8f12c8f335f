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
from huiminbao.plans import compiled_plan
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
    """Per settlement, its payout and one line per liability, amounts in yuan."""
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
            }
        )
    return [
        {"setl_id": s["setl_id"], "payout": to_yuan(s["payout"]), "lines": by_setl.get(s["setl_id"], [])}
        for s in result.settlements.iter_rows(named=True)
    ]


def estimate(case: Mapping[str, Any]) -> dict[str, Any]:
    """Adjudicate one person's case; raises RecordError / EngineError / plan errors on bad input."""
    plan_id, person, settlements, lines = parse_case(case)
    compiled = compiled_plan(plan_id)
    result = adjudicate(
        compiled,
        settlements_frame(settlements),
        insured_frame([person]),
        lines_frame(lines) if lines else None,
    )
    tier = result.settlements["tier"][0] if result.settlements.height else compiled.plan.tier().id
    names = {liab.id: liab.name for liab in compiled.plan.tier(tier).liabilities}
    out: dict[str, Any] = {
        "plan": plan_id,
        "plan_status": compiled.plan.status.value,
        "tier": tier,
        "psn_no": person["psn_no"],
        "total_payout": to_yuan(int(result.settlements["payout"].sum())),
        "settlements": explain(result, names),
    }
    if compiled.plan.status.value == "illustrative":
        out["warning"] = f"plan {plan_id} has illustrative amounts: {compiled.plan.status_note}"
    return out


__all__ = ["EngineError", "RecordError", "estimate", "explain", "parse_case"]
