"""Why a settlement or a line paid less than one might expect, in plain Chinese.

Every amount a user sees that is less than they might expect comes with its reason
(INTERFACES.md, "Explanation lines"): a settlement that cannot pay at all says why beside its
payout; a line that pays less than its base says, in the order the engine applied them, what
took the difference: the settlement's status, a refund, an exclusion, the liability's
condition, a counting factor, the deductible, the ratio, the liability's annual limit, the
plan's overall annual limit. The sentences are built from the plan's own words (its labels,
exclusion reasons and ``when_reason``s), vectorised over the frame the engine already holds.
"""

from __future__ import annotations

import functools

import polars as pl

from huiminbao.engine import names as N
from huiminbao.engine.prepare import Status, record_status
from huiminbao.engine.rules import NOT_APPLICABLE, LiabilityRules, TierRules
from huiminbao.money import BP, bp_to_percent
from huiminbao.plans.schema import Plan
from huiminbao.vocabulary import OPTIONAL_AMOUNTS, label

STATUS_TEXT: dict[str, str | None] = {
    Status.COVERED: None,
    Status.NOT_INSURED: "未参保本方案：本方案参保人中没有此人",
    Status.INSUTYPE: "险种类型不在本方案参保范围内（仅限方案所列的职工或居民基本医疗保险参保人）",
    Status.AREA: "参保地不在本方案所在城市，不能享受本方案待遇",
    Status.OUTSIDE_COVER: "就医开始日期不在保障期内",
    Status.WAITING: "就医开始日期在等待期内",
    Status.BASIC_SUSPENDED: "基本医疗保险暂停参保，本方案待遇同步暂停",
    Status.BASIC_ENDED: "基本医疗保险终止参保，本方案待遇同步终止",
}
REFUND = "退费结算：冲回原结算的赔付"
NOT_DEDUCTIBLE_YET = "未达免赔额（本次{}元计入免赔额，年度免赔额尚余{}元）"
DEDUCTED = "扣除免赔额{}元"
LIABILITY_LIMIT = "已达本责任年度赔付限额"
NOT_GIVEN = "结算记录未提供{}，无法计算本责任"
OVERALL_LIMIT = "已达年度累计赔付限额"


def status_reason(status: pl.Expr) -> pl.Expr:
    """The sentence for a settlement that cannot pay at all; null when it is covered."""
    return status.cast(pl.Utf8).replace_strict(STATUS_TEXT, default=None, return_dtype=pl.Utf8)


def reason_columns(rules: TierRules) -> list[str]:
    """The per-liability columns ``line_reason`` reads besides the outcomes (made by ``bases``)."""
    out = []
    for x in rules.liabilities:
        out += [f"{N.APPLIES}{x.id}", f"{N.FACTOR_RULE}{x.id}", f"{N.RATIO_RULE}{x.id}", f"{N.MISSING}{x.id}"]
        if x.exclusions:
            out.append(f"{N.EXCLUDED}{x.id}")
        if x.conditions:
            out.append(f"{N.FAILED}{x.id}")
    return out


def _yuan(exact: pl.Expr) -> pl.Expr:
    """An amount in fen x 10^4 as yuan text, rounded half up to the fen, by integer arithmetic."""
    fen = (exact.abs() + BP // 2) // BP
    return pl.concat_str((fen // 100).cast(pl.Utf8), pl.lit("."), (fen % 100).cast(pl.Utf8).str.zfill(2))


def _percent(bp: pl.Expr) -> pl.Expr:
    whole = (bp // 100).cast(pl.Utf8)
    return pl.concat_str(pl.when(bp % 100 == 0).then(whole).otherwise((bp / 100).cast(pl.Utf8)), pl.lit("%"))


def _by_index(column: str, texts: list[str]) -> pl.Expr:
    out: pl.Expr = pl.lit(None, pl.Utf8)
    for k in reversed(range(len(texts))):
        out = pl.when(pl.col(column) == k).then(pl.lit(texts[k])).otherwise(out)
    return out


@functools.cache
def line_reason(x: LiabilityRules) -> pl.Expr:
    """The reason on liability ``x``'s line of each record, or null when it paid its whole base. Built
    once per liability (expressions are immutable): building it costs more than evaluating it on the
    few rows of a one-stop batch."""
    col = {s: pl.col(f"{s}_{x.id}") for s in ("base", "counted", "deductible_used", "ratio", "entitled", "payout")}
    status = pl.col("_status").cast(pl.Utf8)
    factor = _by_index(
        f"{N.FACTOR_RULE}{x.id}", [f"{r.label or '按规定'}，按{bp_to_percent(r.value)}计入" for r in x.counting]
    )
    deductible = (
        pl.when(col["deductible_used"] <= 0)
        .then(None)
        .when((col["deductible_used"] == col["counted"]) & (col["entitled"] == 0))
        .then(
            pl.format(
                NOT_DEDUCTIBLE_YET,
                _yuan(col["deductible_used"]),
                _yuan(pl.col(f"{N.DEDUCTIBLE}{x.pool}") - pl.col(f"{N.STATE}d_{x.pool}")),
            )
        )
        .otherwise(pl.format(DEDUCTED, _yuan(col["deductible_used"])))
    )
    rule = _by_index(f"{N.RATIO_RULE}{x.id}", [r.label or "" for r in x.ratios])
    ratio = (
        pl.when((col["ratio"] < BP) & (col["counted"] > col["deductible_used"]))
        .then(
            pl.concat_str(
                pl.lit("按"),
                _percent(col["ratio"]),
                pl.lit("赔付"),
                pl.when(rule.is_not_null() & (rule != "")).then(pl.format("（{}）", rule)).otherwise(pl.lit("")),
            )
        )
        .otherwise(None)
    )
    limit = pl.when(pl.col(f"{N.LIMITED}{x.id}")).then(pl.lit(LIABILITY_LIMIT)).otherwise(None)
    overall = pl.when(col["payout"] < col["entitled"]).then(pl.lit(OVERALL_LIMIT)).otherwise(None)
    steps = pl.concat_str(factor, deductible, ratio, limit, overall, separator="；", ignore_nulls=True)
    out = (
        pl.when(status != Status.COVERED.value)
        .then(pl.when(col["base"] != 0).then(status_reason(pl.col("_status"))).otherwise(None))
        .when(pl.col("_rev"))
        .then(pl.lit(REFUND))
    )
    missing = [f for f in sorted(x.base.fields) if f in OPTIONAL_AMOUNTS]
    if missing:
        text = NOT_GIVEN.format("、".join(label(f) for f in missing))
        out = out.when(pl.col(f"{N.APPLIES}{x.id}") & pl.col(f"{N.MISSING}{x.id}")).then(pl.lit(text))
    out = out.when(col["base"] == 0).then(None)
    if x.exclusions:
        excluded = _by_index(f"{N.EXCLUDED}{x.id}", [r.label or "除外责任" for r in x.exclusions])
        out = out.when(excluded.is_not_null()).then(excluded)
    if x.conditions:
        failed = _by_index(f"{N.FAILED}{x.id}", [r.label or NOT_APPLICABLE for r in x.conditions])
        out = out.when(~pl.col(f"{N.APPLIES}{x.id}")).then(failed)
    return out.otherwise(pl.when(steps != "").then(steps).otherwise(None))


def outside_plan(plan: Plan, settlements: pl.DataFrame, *, counted: bool = True) -> str | None:
    """Why a batch holding records of another plan's year, insurance types or city is refused (the
    batch paths pay them nothing only when the operator confirms with ``--allow-outside``), naming the
    first such record; None when every record belongs to the plan. ``counted=False`` leaves out the
    count, for a caller that sees only part of the year (a Spark bucket)."""
    outside = settlements.select("setl_id", record_status(plan).alias("status")).filter(pl.col("status").is_not_null())
    if not outside.height:
        return None
    first = outside.row(0, named=True)
    many = f"{outside.height:,} 条结算记录" if counted else "有结算记录"
    return (
        f"{many}不属于方案 {plan.id}（保障期 {plan.cover_start} 至 {plan.cover_end}，"
        f"险种 {'、'.join(plan.eligibility.insutypes)}，参保地 {plan.eligibility.admdvs_prefix}……），"
        f"例如 结算 {first['setl_id']}：{STATUS_TEXT[first['status']]}。"
        "请确认文件与方案是否对应；确认无误后用 --allow-outside 计为不赔付。"
    )
