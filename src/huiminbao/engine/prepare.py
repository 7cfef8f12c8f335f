"""Attributes every adjudication needs besides the raw record, derived the same way everywhere:
the person's tier and age, whether care was out of the city or province, who prescribed, and
whether the settlement is covered at all (its status).
"""

from __future__ import annotations

from datetime import date, timedelta
from enum import StrEnum
from typing import Any

import polars as pl

from huiminbao.plans import expr as E
from huiminbao.plans.loader import Compiled
from huiminbao.plans.schema import Plan


class Status(StrEnum):
    """Whether a settlement is covered at all; the first reason that applies, in this order."""

    COVERED = "covered"
    NOT_INSURED = "not_insured"  # the person is not among the plan's insured
    INSUTYPE = "insutype_not_covered"  # insured under a basic insurance type the plan does not cover
    AREA = "area_not_covered"  # insured in another city's basic insurance
    OUTSIDE_COVER = "outside_cover"  # care began outside the person's cover period
    WAITING = "waiting_period"  # care began in the waiting period after cover started
    BASIC_SUSPENDED = "basic_suspended"  # the person's basic insurance was suspended (plan follows it)
    BASIC_ENDED = "basic_ended"  # the person's basic insurance ended (plan follows it)


STATUS = pl.Enum([s.value for s in Status])
BASIC_STATUS = {"2": Status.BASIC_SUSPENDED, "4": Status.BASIC_ENDED}  # psn_insu_stas codes


def record_status(plan: Plan) -> pl.Expr:
    """The status judged on the record alone (insurance type, area, the plan's cover period); null
    when those allow cover. Used for records the batch sets aside before joining persons."""
    insutype, area, begin = pl.col("insutype"), pl.col("insu_admdvs"), pl.col("begndate")
    return (
        pl.when(insutype.is_not_null() & ~insutype.is_in(list(plan.eligibility.insutypes)))
        .then(pl.lit(Status.INSUTYPE.value))
        .when(area.is_not_null() & ~area.str.starts_with(plan.eligibility.admdvs_prefix))
        .then(pl.lit(Status.AREA.value))
        .when(~begin.is_between(plan.cover_start, plan.cover_end).fill_null(False))
        .then(pl.lit(Status.OUTSIDE_COVER.value))
        .otherwise(None)
        .cast(STATUS)
    )


def person_status(plan: Plan) -> pl.Expr:
    """The full status once the person is joined: known, own cover period, waiting days, and basic
    insurance suspended or ended from its status date when the plan follows basic insurance."""
    begin = pl.col("begndate")
    start = pl.col("_cover_start").fill_null(plan.cover_start)
    end = pl.col("_cover_end").fill_null(plan.cover_end)
    waiting = plan.enrollment.waiting_days
    out = pl.when(~pl.col("_known").fill_null(False)).then(pl.lit(Status.NOT_INSURED.value))
    out = out.when(pl.col("_status0").is_not_null()).then(pl.col("_status0").cast(pl.Utf8))
    out = out.when(~begin.is_between(start, end).fill_null(False)).then(pl.lit(Status.OUTSIDE_COVER.value))
    if waiting:
        out = out.when(begin < start + timedelta(days=waiting)).then(pl.lit(Status.WAITING.value))
    link = plan.follows_basic_insurance
    if link is not None:
        since = begin >= pl.col("_insu_status_date").fill_null(date.min)
        for code, status in BASIC_STATUS.items():
            if link.suspend if code == "2" else link.end:
                out = out.when((pl.col("_insu_status") == code) & since).then(pl.lit(status.value))
    out = out.otherwise(pl.lit(Status.COVERED.value))
    return (
        pl.when(pl.col("_rev") & pl.col("_known").fill_null(False))
        .then(pl.lit(Status.COVERED.value))
        .otherwise(out)
        .cast(STATUS)
    )


def person_status_py(plan: Plan, rec: dict[str, Any], person: dict[str, Any] | None) -> Status:
    """``person_status`` for one record, written plainly (the reference adjudicator's twin)."""
    begin = rec.get("begndate")
    if person is None:
        return Status.NOT_INSURED
    if rec.get("refd_setl_flag") == "1":
        return Status.COVERED
    if rec.get("insutype") and rec["insutype"] not in plan.eligibility.insutypes:
        return Status.INSUTYPE
    if rec.get("insu_admdvs") and not rec["insu_admdvs"].startswith(plan.eligibility.admdvs_prefix):
        return Status.AREA
    start = person.get("cover_start") or plan.cover_start
    end = person.get("cover_end") or plan.cover_end
    if begin is None or not (plan.cover_start <= begin <= plan.cover_end) or not (start <= begin <= end):
        return Status.OUTSIDE_COVER
    if plan.enrollment.waiting_days and begin < start + timedelta(days=plan.enrollment.waiting_days):
        return Status.WAITING
    link = plan.follows_basic_insurance
    code = person.get("insu_status")
    follows = link is not None and (link.suspend if code == "2" else link.end)
    if follows and code in BASIC_STATUS and begin >= (person.get("insu_status_date") or date.min):
        return BASIC_STATUS[code]
    return Status.COVERED


class EngineError(ValueError):
    """Input the engine cannot adjudicate; the message (Chinese) names the record and the field."""

    def __init__(self, message: str, record: str | None = None, field: str | None = None):
        self.record, self.field = record, field
        super().__init__(message)


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
    for tier in compiled.tiers:
        if tier.assign is not None and E.evaluate(tier.assign, person, compiled.catalogs):
            return tier.spec.id
    return compiled.plan.tier().id


def tier_column(compiled: Compiled) -> pl.Expr:
    """Vectorised ``person_tier`` over an insured frame."""
    out: pl.Expr = pl.lit(compiled.plan.tier().id)
    for tier in reversed(compiled.tiers):
        if tier.assign is not None:
            out = pl.when(E.to_polars(tier.assign, compiled.catalogs)).then(pl.lit(tier.spec.id)).otherwise(out)
    given = pl.col("tier").fill_null("")
    return pl.when(given != "").then(given).otherwise(out)


def out_of_city(insu: str | None, care: str | None) -> bool:
    return bool(insu and care and insu[:4] != care[:4])


def out_of_province(insu: str | None, care: str | None) -> bool:
    return bool(insu and care and insu[:2] != care[:2])


def prescriber(rec: dict[str, Any]) -> str | None:
    """The institution that prescribed: as the record names it, else the one that settled."""
    return rec.get("rx_fixmedins_code") or rec.get("fixmedins_code")


def place_columns() -> list[pl.Expr]:
    """``out_of_city``, ``out_of_province`` and ``prescriber``: ``out_of_city`` and friends vectorised."""
    insu, care = pl.col("insu_admdvs"), pl.col("mdtrt_area_admvs")
    known = insu.is_not_null() & care.is_not_null()
    return [
        (known & (insu.str.slice(0, 4) != care.str.slice(0, 4))).alias("out_of_city"),
        (known & (insu.str.slice(0, 2) != care.str.slice(0, 2))).alias("out_of_province"),
        pl.coalesce("rx_fixmedins_code", "fixmedins_code").alias("prescriber"),
    ]


def check_tiers(compiled: Compiled, tiers: set[str]) -> None:
    """Every person's tier must be one of the plan's."""
    unknown = tiers - {t.id for t in compiled.plan.tiers}
    if unknown:
        choices = "、".join(f"{t.id}（{t.name}）" for t in compiled.plan.tiers)
        raise EngineError(
            f"方案 {compiled.plan.id} 没有保障版本 {'、'.join(sorted(unknown))}，可选：{choices}",
            record="参保人",
            field="tier",
        )
