"""Per-record bases: what each liability pays on before deductibles, ratios and limits.

A fee-line liability claims the matching lines no earlier liability claimed; a settlement
liability reads the settlement's amounts less what earlier line liabilities claimed, so a
fee is paid under one liability only. Counting factors and ratios come from the first
matching rule; each deductible pool's amount from the person's first matching rule.
"""

from __future__ import annotations

import polars as pl

from huiminbao.engine.rules import Cond, TierRules
from huiminbao.money import BP
from huiminbao.plans import expr as E
from huiminbao.vocabulary import LINE_TO_SETTLEMENT_FIELD


def first_match(conds: tuple[Cond, ...], default: pl.Expr, cats: E.Catalogs) -> pl.Expr:
    out = default
    for c in reversed(conds):
        out = pl.when(E.to_polars(c.expr, cats)).then(pl.lit(c.value, pl.Int64)).otherwise(out)
    return out


def bases(df: pl.DataFrame, fee_lines: pl.DataFrame | None, rules: TierRules) -> pl.DataFrame:
    """Per-liability base (fen), counted amount (fen x bp) and ratio (bp) for each record."""
    cats = rules.catalogs
    live = pl.col("_covered") & ~pl.col("_rev")
    applies = {
        liab.id: (live & E.to_polars(liab.when, cats)) if liab.when is not None else live for liab in rules.liabilities
    }
    df = df.with_columns(*(a.alias(f"_applies_{k}") for k, a in applies.items()))
    line_liabs = [liab for liab in rules.liabilities if liab.lines is not None]
    claim_cols: dict[str, list[str]] = {}  # liability -> settlement fields it claims
    if line_liabs:
        sums: list[pl.Expr] = []
        if fee_lines is not None and fee_lines.height:
            conds = [E.to_polars(liab.lines, cats).alias(f"_m_{liab.id}") for liab in line_liabs]  # type: ignore[arg-type]
            any_match = pl.any_horizontal(*[pl.col(f"_m_{liab.id}") for liab in line_liabs])
            cand = (
                fee_lines.lazy()
                .with_columns(*conds)
                .filter(any_match)
                .join(
                    df.lazy().select("setl_id", "_row", *(f"_applies_{x.id}" for x in line_liabs)),
                    on="setl_id",
                )
            )
            claimed = pl.lit(False)
            masks = []
            for liab in line_liabs:
                mask = pl.col(f"_m_{liab.id}") & pl.col(f"_applies_{liab.id}") & ~claimed
                masks.append(mask.alias(f"_k_{liab.id}"))
                claimed = claimed | mask
            cand = cand.with_columns(*masks)
            for liab in line_liabs:
                k = pl.col(f"_k_{liab.id}")
                sums.append(pl.when(k).then(E.to_polars(liab.base, cats)).otherwise(0).sum().alias(f"b_{liab.id}"))
                claim_cols[liab.id] = []
                for f in sorted(liab.base.fields):
                    name = f"_cl_{liab.id}_{LINE_TO_SETTLEMENT_FIELD[f]}"
                    claim_cols[liab.id].append(LINE_TO_SETTLEMENT_FIELD[f])
                    sums.append(pl.when(k).then(pl.col(f)).otherwise(0).sum().alias(name))
            agg = cand.group_by("_row").agg(sums).collect()
            df = df.join(agg, on="_row", how="left")  # order is restored later, for active records only
        new_cols = [f"b_{x.id}" for x in line_liabs] + [f"_cl_{lid}_{f}" for lid, fs in claim_cols.items() for f in fs]
        df = df.with_columns(
            *[(pl.col(c).fill_null(0) if c in df.columns else pl.lit(0, pl.Int64)).alias(c) for c in new_cols]
        )
    exprs: list[pl.Expr] = []
    claimed_so_far: dict[str, list[str]] = {}
    for liab in rules.liabilities:
        if liab.lines is not None:
            base = pl.col(f"b_{liab.id}")
            for f in claim_cols.get(liab.id, []):
                claimed_so_far.setdefault(f, []).append(f"_cl_{liab.id}_{f}")
        else:
            adjusted = {f: pl.col(f) - pl.sum_horizontal(*[pl.col(c) for c in cs]) for f, cs in claimed_so_far.items()}
            base = E.to_polars(liab.base, cats, adjusted)
            base = pl.when(pl.col(f"_applies_{liab.id}")).then(base).otherwise(0)
        if liab.exclusions:
            excluded = pl.any_horizontal(*[E.to_polars(x, cats) for x in liab.exclusions])
            base = pl.when(excluded).then(0).otherwise(base)
        base = pl.max_horizontal(base, pl.lit(0)).cast(pl.Int64)
        factor = first_match(liab.counting, pl.lit(BP, pl.Int64), cats)
        ratio = first_match(liab.ratios, pl.lit(liab.ratio_default, pl.Int64), cats)
        exprs += [
            base.alias(f"base_{liab.id}"),
            factor.alias(f"_f_{liab.id}"),
            ratio.alias(f"ratio_{liab.id}"),
        ]
    exprs += [(first_match(p.rules, pl.lit(p.default, pl.Int64), cats) * BP).alias(f"_D_{p.key}") for p in rules.pools]
    df = df.with_columns(exprs)
    return df.with_columns(
        *[(pl.col(f"base_{x.id}") * pl.col(f"_f_{x.id}")).alias(f"counted_{x.id}") for x in rules.liabilities]
    )


# --- accumulators ------------------------------------------------------------------------------
