"""The reference adjudicator: the scheme's rules as a plain loop, written to be read.

It walks each person's settlements in ``setl_time`` order and keeps the annual
accumulators in dictionaries. It is slow on purpose-free clarity and exists to check
the vectorised engine to the fen (tests and the benchmark compare them).

Rules, in the order they apply to one settlement:
1. Coverage: the person is insured in the plan, under a type and in an area it covers, care
   began inside the person's cover and after any waiting period, and basic insurance was not
   suspended or ended (when the plan follows it).
2. Bases, liability by liability in precedence order. A fee-line liability claims the
   matching lines not claimed before it; a settlement liability sees the settlement's
   amounts less what earlier line liabilities claimed. Negative bases count as zero. The base
   is shown whether or not it counts; an uncovered settlement, an unmet ``when`` or a
   matching exclusion makes the counted amount zero.
3. Counting factor (e.g. care outside the city counts at 50%): counted = base x factor.
4. Deductible: each pool has an annual amount; within a settlement the liabilities
   sharing a pool consume it in precedence order.
5. Entitlement: (counted - deductible used) x ratio, exact, capped by the liability's
   annual limit; rounded half up once, on the person's cumulative exact amount.
6. Overall limit on the sum of entitlements; what is paid is allocated in precedence order.
A reversal undoes its original: it releases what the original consumed and pays back the
negative of the original's payout, line by line.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Any

import polars as pl

from huiminbao.engine.prepare import (
    EngineError,
    Status,
    age_at,
    out_of_city,
    out_of_province,
    person_status_py,
    person_tier,
    prescriber,
)
from huiminbao.engine.rules import EXACT, TierRules, tier_rules
from huiminbao.money import BP
from huiminbao.plans import expr as E
from huiminbao.plans.loader import Compiled
from huiminbao.vocabulary import CLAIMED_FROM, INSCP_SELFPAY, REFUND_FLAG


def round_exact(e: int) -> int:
    """Fen from an exact amount (fen x 10^8), half up: floor(e + 1/2)."""
    return (e + EXACT // 2) // EXACT


def _first(conds: Any, row: dict[str, Any], cats: E.Catalogs, default: int) -> int:
    for c in conds:
        if E.evaluate(c.when, row, cats):
            return c.value
    return default


def adjudicate_reference(
    compiled: Compiled,
    settlements: pl.DataFrame,
    insured: pl.DataFrame,
    fee_lines: pl.DataFrame | None = None,
    prior: pl.DataFrame | None = None,
    prior_lines: pl.DataFrame | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Adjudicate with a plain loop; returns (settlement payouts, lines, accumulators after)."""
    plan = compiled.plan
    people = {p["psn_no"]: p for p in insured.to_dicts()}
    lines_by_setl: dict[str, list[dict[str, Any]]] = defaultdict(list)
    if fee_lines is not None:
        for line in fee_lines.to_dicts():
            lines_by_setl[line["setl_id"]].append(line)
    state: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    if prior is not None:
        for row in prior.to_dicts():
            state[row["psn_no"]][row["key"]] = row["value"]
    done: dict[str, dict[str, dict[str, int]]] = {}  # setl_id -> liability -> outcome
    if prior_lines is not None:
        for row in prior_lines.to_dicts():
            done.setdefault(row["setl_id"], {})[row["liability"]] = row
    rules_by_tier: dict[str, TierRules] = {}
    out_setl: list[dict[str, Any]] = []
    out_lines: list[dict[str, Any]] = []

    records = sorted(settlements.to_dicts(), key=lambda r: (r["psn_no"], r["setl_time"], r["setl_id"]))
    for rec in records:
        person = people.get(rec["psn_no"])
        tier_id = person_tier(compiled, person) if person else plan.tier().id
        if tier_id not in rules_by_tier:
            rules_by_tier[tier_id] = tier_rules(compiled, tier_id)
        rules = rules_by_tier[tier_id]
        acc = state[rec["psn_no"]]
        status = person_status_py(plan, rec, person)
        if rec.get("refd_setl_flag") == REFUND_FLAG and person is not None:
            original = done.get(rec.get("init_setl_id") or "")
            if original is None:
                raise EngineError(
                    f"结算 {rec['setl_id']}：原结算ID（init_setl_id）{rec.get('init_setl_id')} 不是此人更早的结算",
                    record=f"结算 {rec['setl_id']}",
                    field="init_setl_id",
                )
            outcome = _reverse(rules, acc, original)
        else:
            row = record_context(plan.cover_start, rec, person, status)
            outcome = _settle(rules, acc, row, lines_by_setl.get(rec["setl_id"], []), compiled.catalogs)
        done[rec["setl_id"]] = outcome
        payout = sum(o["payout"] for o in outcome.values())
        out_setl.append(
            {"setl_id": rec["setl_id"], "psn_no": rec["psn_no"], "tier": tier_id, "status": status, "payout": payout}
        )
        for liab in rules.liabilities:
            o = outcome[liab.id]
            out_lines.append({"setl_id": rec["setl_id"], "psn_no": rec["psn_no"], "liability": liab.id, **o})
    accs = [{"psn_no": p, "key": k, "value": v} for p, kv in state.items() for k, v in kv.items()]
    return (
        pl.DataFrame(
            out_setl,
            schema={"setl_id": pl.Utf8, "psn_no": pl.Utf8, "tier": pl.Utf8, "status": pl.Utf8, "payout": pl.Int64},
        ),
        pl.DataFrame(out_lines, infer_schema_length=None),
        pl.DataFrame(accs, schema={"psn_no": pl.Utf8, "key": pl.Utf8, "value": pl.Int64}),
    )


def record_context(start: date, rec: dict[str, Any], person: dict[str, Any] | None, status: Status) -> dict[str, Any]:
    row = dict(rec)
    if person is not None:
        row.update(
            preexisting=person.get("preexisting") or [],
            populations=person.get("populations") or [],
            tier=person.get("tier"),
            age=age_at(person.get("birth_date"), start),
        )
    row["covered"] = status is Status.COVERED
    row["prescriber"] = prescriber(rec)
    row["out_of_city"] = out_of_city(rec.get("insu_admdvs"), rec.get("mdtrt_area_admvs"))
    row["out_of_province"] = out_of_province(rec.get("insu_admdvs"), rec.get("mdtrt_area_admvs"))
    row["out_area_filed"] = bool(rec.get("out_area_filed"))
    return row


def _settle(
    rules: TierRules,
    acc: dict[str, int],
    row: dict[str, Any],
    lines: list[dict[str, Any]],
    cats: E.Catalogs,
) -> dict[str, dict[str, int]]:
    claimed: set[int] = set()
    claimed_fields: dict[str, int] = defaultdict(int)  # settlement field -> amount claimed by lines
    counted: dict[str, int] = {}
    ratio: dict[str, int] = {}
    base_of: dict[str, int] = {}
    owed = max(row["inscp_scp_amt"] - row["fund_pay_sumamt"], 0)
    for line in lines:  # each line's share of the in-scope self-pay, floor (vocabulary.INSCP_SELFPAY)
        line[INSCP_SELFPAY] = line["inscp_scp_amt"] * owed // row["inscp_scp_amt"] if row["inscp_scp_amt"] > 0 else 0
    for liab in rules.liabilities:
        applies = row["covered"] and all(E.evaluate(c.when, row, cats) for c in liab.conditions)
        if liab.lines is not None:
            base = 0
            for k, line in enumerate(lines):
                if k in claimed or not E.evaluate(liab.lines, line, cats):
                    continue
                base += E.evaluate(liab.base, line, cats)
                if applies:
                    claimed.add(k)
                    for f in liab.base.fields:
                        claimed_fields[CLAIMED_FROM[f]] += line[f]
        else:
            seen = {**row, **{f: row[f] - v for f, v in claimed_fields.items() if f in row}}
            base = E.evaluate(liab.base, seen, cats)
        counts = applies and not any(E.evaluate(x.when, row, cats) for x in liab.exclusions)
        base = max(base or 0, 0)
        base_of[liab.id] = base
        counted[liab.id] = base * _first(liab.counting, row, cats, BP) if counts else 0
        ratio[liab.id] = _first(liab.ratios, row, cats, liab.ratio_default)

    used: dict[str, int] = {}
    for pool in rules.pools:
        deductible = _first(pool.rules, row, cats, pool.default) * BP
        key = f"ded:{pool.key}"
        for member in pool.members:
            take = max(0, min(deductible - acc[key], counted[member]))
            acc[key] += take
            used[member] = take

    entitled: dict[str, int] = {}
    for liab in rules.liabilities:
        key = f"ent:{liab.id}"
        before = acc[key]
        after = before + (counted[liab.id] - used[liab.id]) * ratio[liab.id]
        if liab.limit is not None:
            after = min(after, liab.limit * EXACT)
        acc[key] = after
        entitled[liab.id] = round_exact(after) - round_exact(before)

    total = sum(entitled.values())
    if rules.overall_limit is not None:
        total = min(total, rules.overall_limit - acc["paid"])
    acc["paid"] += total
    out: dict[str, dict[str, int]] = {}
    left = total
    for liab in rules.liabilities:
        pay = min(left, entitled[liab.id])
        left -= pay
        out[liab.id] = {
            "base": base_of[liab.id],
            "counted": counted[liab.id],
            "deductible_used": used[liab.id],
            "ratio": ratio[liab.id],
            "entitled": entitled[liab.id],
            "payout": pay,
        }
    return out


def _reverse(rules: TierRules, acc: dict[str, int], original: dict[str, dict[str, Any]]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for liab in rules.liabilities:
        o = original.get(liab.id) or {
            "base": 0,
            "counted": 0,
            "deductible_used": 0,
            "entitled": 0,
            "payout": 0,
        }
        acc[f"ded:{liab.pool}"] -= o["deductible_used"]
        acc[f"ent:{liab.id}"] -= o["entitled"] * EXACT
        acc["paid"] -= o["payout"]
        out[liab.id] = {
            "base": -o["base"],
            "counted": -o["counted"],
            "deductible_used": -o["deductible_used"],
            "ratio": o.get("ratio", liab.ratio_default),
            "entitled": -o["entitled"],
            "payout": -o["payout"],
        }
    return out
