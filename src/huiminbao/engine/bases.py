"""Per-record bases: what each liability pays on before deductibles, ratios and limits.

A fee-line liability claims the matching lines no earlier liability claimed; a settlement
liability reads the settlement's amounts less what earlier line liabilities claimed, so a
fee is paid under one liability only. Counting factors and ratios come from the first
matching rule; each deductible pool's amount from the person's first matching rule.

``base_<id>`` is what the stay has for the liability whether or not it pays (so an explanation
can say what was not paid and why); ``counted_<id>`` is what counts: zero when the settlement is
not covered, the liability's condition fails or an exclusion matches, else the base times the
counting factor. With ``explain`` the indices of the matching rules are kept for the reasons.
"""

from __future__ import annotations

import polars as pl

from huiminbao.engine.names import (
    APPLIES,
    CLAIMED,
    DEDUCTIBLE,
    EXCLUDED,
    FACTOR,
    FACTOR_RULE,
    FAILED,
    FREE,
    LINE_BASE,
    MATCH,
    MISSING,
    RATIO_RULE,
    SETTLEMENT_FUNDS,
    SETTLEMENT_INSCP,
    TAKEN,
)
from huiminbao.engine.rules import TierRules
from huiminbao.engine.run import collect
from huiminbao.money import BP
from huiminbao.plans import expr as E
from huiminbao.plans.loader import Rule
from huiminbao.vocabulary import CLAIMED_FROM, INSCP_SELFPAY, OPTIONAL_AMOUNTS


def first_match(conds: tuple[Rule, ...], default: pl.Expr, cats: E.Catalogs) -> pl.Expr:
    out = default
    for c in reversed(conds):
        out = pl.when(E.to_polars(c.when, cats)).then(pl.lit(c.value, pl.Int64)).otherwise(out)
    return out


def first_index(conds: tuple[Rule, ...], cats: E.Catalogs) -> pl.Expr:
    """The index of the first rule whose condition holds, null when none does."""
    out: pl.Expr = pl.lit(None, pl.Int8)
    for k in reversed(range(len(conds))):
        out = pl.when(E.to_polars(conds[k].when, cats)).then(pl.lit(k, pl.Int8)).otherwise(out)
    return out


def first_failing(conds: tuple[Rule, ...], cats: E.Catalogs) -> pl.Expr:
    """The index of the first condition that does not hold, null when all do."""
    out: pl.Expr = pl.lit(None, pl.Int8)
    for k in reversed(range(len(conds))):
        out = pl.when(~E.to_polars(conds[k].when, cats)).then(pl.lit(k, pl.Int8)).otherwise(out)
    return out


def _inscp_selfpay() -> pl.Expr:
    """A fee line's share of its settlement's in-scope self-pay (vocabulary.INSCP_SELFPAY), floor."""
    owed = pl.max_horizontal(pl.col(SETTLEMENT_INSCP) - pl.col(SETTLEMENT_FUNDS), pl.lit(0))
    share = pl.col("inscp_scp_amt") * owed // pl.col(SETTLEMENT_INSCP)
    return pl.when(pl.col(SETTLEMENT_INSCP) > 0).then(share).otherwise(0).alias(INSCP_SELFPAY)


def bases(df: pl.DataFrame, fee_lines: pl.DataFrame | None, rules: TierRules, explain: bool = False) -> pl.DataFrame:
    """Per-liability base (fen), counted amount (fen x bp) and ratio (bp) for each record."""
    cats = rules.catalogs
    live = pl.col("_covered") & ~pl.col("_rev")
    applies = {
        x.id: pl.all_horizontal(live, *[E.to_polars(c.when, cats) for c in x.conditions]) for x in rules.liabilities
    }
    df = df.with_columns(*(a.alias(f"{APPLIES}{k}") for k, a in applies.items()))
    if explain:  # which condition failed first, for the reason
        df = df.with_columns(
            *[first_failing(x.conditions, cats).alias(f"{FAILED}{x.id}") for x in rules.liabilities if x.conditions]
        )
    line_liabs = [liab for liab in rules.liabilities if liab.lines is not None]
    claim_cols: dict[str, list[str]] = {}  # liability -> settlement fields it claims
    if line_liabs:
        sums: list[pl.Expr] = []
        if fee_lines is not None and fee_lines.height:
            conds = [E.to_polars(liab.lines, cats).alias(f"{MATCH}{liab.id}") for liab in line_liabs]  # type: ignore[arg-type]
            any_match = pl.any_horizontal(*[pl.col(f"{MATCH}{liab.id}") for liab in line_liabs])
            derived = any(INSCP_SELFPAY in x.base.fields for x in line_liabs)
            settlement_cols = [
                pl.col("inscp_scp_amt").alias(SETTLEMENT_INSCP),
                pl.col("fund_pay_sumamt").alias(SETTLEMENT_FUNDS),
            ] if derived else []  # fmt: skip
            cand = (
                fee_lines.lazy()
                .with_columns(*conds)
                .filter(any_match)
                .join(
                    df.lazy().select("setl_id", "_row", *(f"{APPLIES}{x.id}" for x in line_liabs), *settlement_cols),
                    on="setl_id",
                )
            )
            if derived:
                cand = cand.with_columns(_inscp_selfpay())
            claimed = pl.lit(False)
            masks = []
            for liab in line_liabs:
                free = pl.col(f"{MATCH}{liab.id}") & ~claimed
                mask = free & pl.col(f"{APPLIES}{liab.id}")
                masks += [mask.alias(f"{TAKEN}{liab.id}"), free.alias(f"{FREE}{liab.id}")]
                claimed = claimed | mask
            cand = cand.with_columns(*masks)
            for liab in line_liabs:
                k = pl.col(f"{TAKEN}{liab.id}")
                sums.append(
                    pl.when(pl.col(f"{FREE}{liab.id}")).then(E.to_polars(liab.base, cats)).otherwise(0).sum()
                    .alias(f"{LINE_BASE}{liab.id}")
                )  # fmt: skip
                claim_cols[liab.id] = []
                for f in sorted(liab.base.fields):
                    name = f"{CLAIMED}{liab.id}_{CLAIMED_FROM[f]}"
                    claim_cols[liab.id].append(CLAIMED_FROM[f])
                    sums.append(pl.when(k).then(pl.col(f)).otherwise(0).sum().alias(name))
            agg = cand.group_by("_row").agg(sums).pipe(collect)
            df = df.join(agg, on="_row", how="left")  # order is restored later, for active records only
        new_cols = [f"{LINE_BASE}{x.id}" for x in line_liabs] + [
            f"{CLAIMED}{lid}_{f}" for lid, fs in claim_cols.items() for f in fs
        ]
        df = df.with_columns(
            *[(pl.col(c).fill_null(0) if c in df.columns else pl.lit(0, pl.Int64)).alias(c) for c in new_cols]
        )
    exprs: list[pl.Expr] = []
    claimed_so_far: dict[str, list[str]] = {}
    for liab in rules.liabilities:
        if liab.lines is not None:
            base = pl.col(f"{LINE_BASE}{liab.id}")
            for f in claim_cols.get(liab.id, []):
                claimed_so_far.setdefault(f, []).append(f"{CLAIMED}{liab.id}_{f}")
        else:
            adjusted = {f: pl.col(f) - pl.sum_horizontal(*[pl.col(c) for c in cs]) for f, cs in claimed_so_far.items()}
            base = E.to_polars(liab.base, cats, adjusted)
        if explain:  # a base reading an optional amount the record does not give cannot be computed
            optional = [pl.col(f).is_null() for f in sorted(liab.base.fields) if f in OPTIONAL_AMOUNTS]
            exprs.append(pl.any_horizontal(pl.lit(False), *optional).alias(f"{MISSING}{liab.id}"))
        counts = pl.col(f"{APPLIES}{liab.id}")
        if liab.exclusions:
            excluded = pl.any_horizontal(*[E.to_polars(x.when, cats) for x in liab.exclusions])
            counts = counts & ~excluded
            if explain:
                exprs.append(first_index(liab.exclusions, cats).alias(f"{EXCLUDED}{liab.id}"))
        base = pl.max_horizontal(base, pl.lit(0)).fill_null(0).cast(pl.Int64)
        factor = first_match(liab.counting, pl.lit(BP, pl.Int64), cats)
        ratio = first_match(liab.ratios, pl.lit(liab.ratio_default, pl.Int64), cats)
        exprs += [
            base.alias(f"base_{liab.id}"),
            pl.when(counts).then(factor).otherwise(0).alias(f"{FACTOR}{liab.id}"),
            ratio.alias(f"ratio_{liab.id}"),
        ]
        if explain:
            exprs += [
                first_index(liab.counting, cats).alias(f"{FACTOR_RULE}{liab.id}"),
                first_index(liab.ratios, cats).alias(f"{RATIO_RULE}{liab.id}"),
            ]
    exprs += [
        (first_match(p.rules, pl.lit(p.default, pl.Int64), cats) * BP).alias(f"{DEDUCTIBLE}{p.key}")
        for p in rules.pools
    ]
    df = df.with_columns(exprs)
    return df.with_columns(
        *[(pl.col(f"base_{x.id}") * pl.col(f"{FACTOR}{x.id}")).alias(f"counted_{x.id}") for x in rules.liabilities]
    )


# --- accumulators ------------------------------------------------------------------------------
