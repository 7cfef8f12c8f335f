"""Attributes every adjudication needs besides the raw record, derived the same way everywhere:
the person's tier and age, whether care was out of the city or province, and coverage.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import polars as pl

from huiminbao.plans import expr as E
from huiminbao.plans.loader import Compiled


class EngineError(ValueError):
    """Input the engine cannot adjudicate; the message names the record and the field."""


def age_at(birth: date | None, day: date) -> int | None:
    if birth is None:
        return None
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def age_expr(birth: pl.Expr, day: date) -> pl.Expr:
    """Whole years at ``day``: the same rule as ``age_at``, vectorised."""
    before = (birth.dt.month() > day.month) | ((birth.dt.month() == day.month) & (birth.dt.day() > day.day))
    return (pl.lit(day.year) - birth.dt.year() - before.cast(pl.Int32)).cast(pl.Int64)


def person_tier(compiled: Compiled, person: dict[str, Any]) -> str:
    """The tier a person is in: as bought, else the first tier whose ``assign`` holds, else the default."""
    if person.get("tier"):
        return str(person["tier"])
    plan = compiled.plan
    for ti, tier in enumerate(plan.tiers):
        cond = compiled.exprs.get(f"tiers[{ti}].assign")
        if cond is not None and E.evaluate(cond, person, compiled.catalogs):
            return tier.id
    return plan.tier().id


def tier_column(compiled: Compiled) -> pl.Expr:
    """Vectorised ``person_tier`` over an insured frame."""
    plan = compiled.plan
    out: pl.Expr = pl.lit(plan.tier().id)
    for ti in reversed(range(len(plan.tiers))):
        cond = compiled.exprs.get(f"tiers[{ti}].assign")
        if cond is not None:
            out = pl.when(E.to_polars(cond, compiled.catalogs)).then(pl.lit(plan.tiers[ti].id)).otherwise(out)
    given = pl.col("tier").fill_null("")
    return pl.when(given != "").then(given).otherwise(out)


def out_of_city(insu: str | None, care: str | None) -> bool:
    return bool(insu and care and insu[:4] != care[:4])


def out_of_province(insu: str | None, care: str | None) -> bool:
    return bool(insu and care and insu[:2] != care[:2])


def place_columns() -> list[pl.Expr]:
    insu, care = pl.col("insu_admdvs"), pl.col("mdtrt_area_admvs")
    known = insu.is_not_null() & care.is_not_null()
    return [
        (known & (insu.str.slice(0, 4) != care.str.slice(0, 4))).alias("out_of_city"),
        (known & (insu.str.slice(0, 2) != care.str.slice(0, 2))).alias("out_of_province"),
    ]


def check_tiers(compiled: Compiled, tiers: set[str]) -> None:
    """Every person's tier must be one of the plan's."""
    unknown = tiers - {t.id for t in compiled.plan.tiers}
    if unknown:
        raise EngineError(
            f"insured.tier: plan {compiled.plan.id} has no tier {', '.join(sorted(unknown))}"
            f" (tiers: {', '.join(t.id for t in compiled.plan.tiers)})"
        )
