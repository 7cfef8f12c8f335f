"""Annual accumulators: deductible used, exact entitlement per liability and total paid, as
capped running sums over a frame sorted by person and time.

With x0 the prior value, S the person's running sum of increments and C the cap, the capped
sum is ``x = x0 + S - max(0, running max of (x0 + S - C))``; when a person has no reversal all
increments are non-negative and this is just ``min(C, x0 + S)``. Running sums per person are
one global ``cum_sum`` minus the value before the person's first record: integer arithmetic
wraps, so the difference is exact whatever the global total.

A reversal's increments are the negatives of its original's outcome, which depends on the
records before it; persons with reversals are therefore recomputed until their reversals'
values stop changing (one extra pass per level of reversal nesting).
"""

from __future__ import annotations

import polars as pl

from huiminbao.engine.names import DEDUCTIBLE, LIMITED, ORIGINAL, ORIGINAL_PRIOR, OVER, PRIOR, STATE
from huiminbao.engine.prepare import EngineError
from huiminbao.engine.rules import EXACT, TierRules
from huiminbao.engine.run import collect

OUTCOMES = ("base", "counted", "deductible_used", "ratio", "entitled", "payout")
MAX_PASSES = 64


def key_cols(rules: TierRules) -> dict[str, str]:
    """Accumulator key -> state column name for one tier."""
    keys = {f"ded:{p.key}": f"{STATE}d_{p.key}" for p in rules.pools}
    keys.update({f"ent:{x.id}": f"{STATE}e_{x.id}" for x in rules.liabilities})
    keys["paid"] = f"{STATE}paid"
    return keys


def with_prior(df: pl.DataFrame, rules: TierRules, prior: pl.DataFrame | None) -> pl.DataFrame:
    keys = key_cols(rules)
    x0 = {key: PRIOR + col[len(STATE) :] for key, col in keys.items()}
    if prior is not None and prior.height:
        wide = (
            prior.filter(pl.col("key").is_in(list(keys)))
            .with_columns(pl.col("key").replace_strict(x0, return_dtype=pl.Utf8))
            .pivot(on="key", index="psn_no", values="value", aggregate_function="sum")
        )
        df = df.join(wide, on="psn_no", how="left", maintain_order="left")
    return df.with_columns(
        *[
            (pl.col(c).fill_null(0) if c in df.columns else pl.lit(0, pl.Int64)).cast(pl.Int64).alias(c)
            for c in x0.values()
        ]
    )


def originals(df: pl.DataFrame, rules: TierRules, prior_lines: pl.DataFrame | None) -> pl.DataFrame:
    """Give reversal rows their original's outcome (``names.ORIGINAL``) from earlier adjudications."""
    cols = [f"{ORIGINAL}{s}_{x.id}" for x in rules.liabilities for s in OUTCOMES]
    df = df.with_columns(*[pl.lit(0, pl.Int64).alias(c) for c in cols])
    if prior_lines is not None and prior_lines.height and df["_rev"].any():
        wide = prior_lines.filter(pl.col("liability").is_in([x.id for x in rules.liabilities])).pivot(
            on="liability", index="setl_id", values=list(OUTCOMES), aggregate_function="first"
        )
        rename = {f"{s}_{x.id}": f"{ORIGINAL}{s}_{x.id}" for x in rules.liabilities for s in OUTCOMES}
        wide = wide.rename({k: v for k, v in rename.items() if k in wide.columns})
        got = [c for c in cols if c in wide.columns]
        df = (
            df.drop(got)
            .join(
                wide.select("setl_id", *got).rename({"setl_id": "init_setl_id"}),
                on="init_setl_id",
                how="left",
                maintain_order="left",
            )
            .with_columns(*[pl.col(c).fill_null(0) for c in got])
            .with_columns(pl.col("init_setl_id").is_in(wide["setl_id"].implode()).alias(ORIGINAL_PRIOR))
        )
    else:
        df = df.with_columns(pl.lit(False).alias(ORIGINAL_PRIOR))
    return df


def accumulate(df: pl.DataFrame, rules: TierRules, reversals: bool, explain: bool = False) -> pl.DataFrame:
    """Run every accumulator over a frame sorted by person and time.

    ``reversals=False`` is the fast path for persons without a reversal: all increments are
    non-negative, so a capped running sum is ``min(cap, x0 + S)`` and no reversal branch is
    evaluated. With reversals, increments may be negative and the cap needs the running max.
    ``explain`` adds ``names.LIMITED``: the liability's annual limit cut this record's entitlement.
    """
    first = pl.col("_first")
    start = pl.col("_start")  # row number (within df) of the person's first record
    rev = pl.col("_rev")

    def running(inc: pl.Expr) -> pl.Expr:
        total = inc.cum_sum()  # wraps on overflow; the per-person difference stays exact
        return total - (total - inc).gather(start)

    def capped(lf: pl.LazyFrame, accs: list[tuple[str, pl.Expr, pl.Expr, pl.Expr | None]]) -> pl.LazyFrame:
        """Add capped running sums: (name, increment, prior value, cap or None) each."""
        lf = lf.with_columns(*[(x0 + running(inc)).alias(name) for name, inc, x0, _ in accs])
        out = []
        if reversals:
            over = [
                (name, pl.max_horizontal(pl.col(name) - cap, pl.lit(0))) for name, _, _, cap in accs if cap is not None
            ]
            frame = lf.with_columns(*[e.alias(f"{OVER}{name}") for name, e in over]).pipe(collect)
            for name, _ in over:
                out.append((pl.col(name) - person_running_max(frame, f"{OVER}{name}")).alias(name))
            return frame.lazy().with_columns(out).drop(*[f"{OVER}{name}" for name, _ in over])
        for name, _, _, cap in accs:
            if cap is not None:
                out.append(pl.min_horizontal(pl.col(name), cap).alias(name))
        return lf.with_columns(out) if out else lf

    def before(x: str, x0: str) -> pl.Expr:
        return pl.when(first).then(pl.col(x0)).otherwise(pl.col(x).shift(1))

    def on_rev(then: pl.Expr, otherwise: pl.Expr) -> pl.Expr:
        return pl.when(rev).then(then).otherwise(otherwise) if reversals else otherwise

    def r(e: pl.Expr) -> pl.Expr:
        return (e + EXACT // 2) // EXACT

    liabs = rules.liabilities
    lf = df.lazy().with_columns(pl.int_range(pl.len(), dtype=pl.UInt32).alias("_i"))
    lf = lf.with_columns(pl.when(first).then(pl.col("_i")).otherwise(None).forward_fill().alias("_start"))
    accs = []
    for p in rules.pools:
        total = pl.sum_horizontal(*[pl.col(f"counted_{m}") for m in p.members])
        if reversals:
            total = on_rev(-pl.sum_horizontal(*[pl.col(f"{ORIGINAL}deductible_used_{m}") for m in p.members]), total)
        accs.append((f"{STATE}d_{p.key}", total, pl.col(f"{PRIOR}d_{p.key}"), pl.col(f"{DEDUCTIBLE}{p.key}")))
    lf = capped(lf, accs)
    used: list[pl.Expr] = []
    for p in rules.pools:
        took = pl.col(f"{STATE}d_{p.key}") - before(f"{STATE}d_{p.key}", f"{PRIOR}d_{p.key}")
        ahead: pl.Expr = pl.lit(0, pl.Int64)
        for m in p.members:
            share = pl.min_horizontal(pl.max_horizontal(took - ahead, pl.lit(0)), pl.col(f"counted_{m}"))
            used.append(on_rev(-pl.col(f"{ORIGINAL}deductible_used_{m}"), share).alias(f"deductible_used_{m}"))
            ahead = ahead + pl.col(f"counted_{m}")
    lf = lf.with_columns(used)

    accs = []
    wanted: dict[str, pl.Expr] = {}  # the exact increment each capped liability would add uncapped
    for x in liabs:
        q = (pl.col(f"counted_{x.id}") - pl.col(f"deductible_used_{x.id}")) * pl.col(f"ratio_{x.id}")
        cap = None if x.limit is None else pl.lit(x.limit * EXACT, pl.Int64)
        if cap is not None:
            q = pl.min_horizontal(q, cap + EXACT)  # keeps running sums small; the cap cuts the same
            wanted[x.id] = q
        inc = on_rev(-pl.col(f"{ORIGINAL}entitled_{x.id}") * EXACT, q)
        accs.append((f"{STATE}e_{x.id}", inc, pl.col(f"{PRIOR}e_{x.id}"), cap))
    lf = capped(lf, accs)
    if explain:
        lf = lf.with_columns(
            *[
                (
                    (pl.col(f"{STATE}e_{x.id}") - before(f"{STATE}e_{x.id}", f"{PRIOR}e_{x.id}") < wanted[x.id])
                    if x.id in wanted
                    else pl.lit(False)
                ).alias(f"{LIMITED}{x.id}")
                for x in liabs
            ]
        )
    lf = lf.with_columns(
        *[
            on_rev(
                -pl.col(f"{ORIGINAL}entitled_{x.id}"),
                r(pl.col(f"{STATE}e_{x.id}")) - r(before(f"{STATE}e_{x.id}", f"{PRIOR}e_{x.id}")),
            ).alias(f"entitled_{x.id}")
            for x in liabs
        ]
    )
    entitled = pl.sum_horizontal(*[pl.col(f"entitled_{x.id}") for x in liabs])
    overall = None if rules.overall_limit is None else pl.lit(rules.overall_limit, pl.Int64)
    if reversals:
        entitled = on_rev(-pl.sum_horizontal(*[pl.col(f"{ORIGINAL}payout_{x.id}") for x in liabs]), entitled)
    lf = capped(lf, [(f"{STATE}paid", entitled, pl.col(f"{PRIOR}paid"), overall)])
    lf = lf.with_columns((pl.col(f"{STATE}paid") - before(f"{STATE}paid", f"{PRIOR}paid")).alias("payout"))
    pays: list[pl.Expr] = []
    ahead = pl.lit(0, pl.Int64)
    for x in liabs:
        share = pl.min_horizontal(pl.max_horizontal(pl.col("payout") - ahead, pl.lit(0)), pl.col(f"entitled_{x.id}"))
        pays.append(on_rev(-pl.col(f"{ORIGINAL}payout_{x.id}"), share).alias(f"payout_{x.id}"))
        ahead = ahead + pl.col(f"entitled_{x.id}")
    lf = lf.with_columns(pays)
    if reversals:
        lf = lf.with_columns(
            *[
                pl.when(rev)
                .then(-pl.col(f"{ORIGINAL}{s}_{x.id}"))
                .otherwise(pl.col(f"{s}_{x.id}"))
                .alias(f"{s}_{x.id}")
                for x in liabs
                for s in ("base", "counted")
            ],
            *[
                pl.when(rev)
                .then(pl.col(f"{ORIGINAL}ratio_{x.id}"))
                .otherwise(pl.col(f"ratio_{x.id}"))
                .alias(f"ratio_{x.id}")
                for x in liabs
            ],
        )
    return lf.drop("_i", "_start").pipe(collect)


def person_running_max(frame: pl.DataFrame, column: str) -> pl.Expr:
    """Running max of a non-negative column within each person (rows in person order).

    A global ``cum_max`` of ``value + _p * K`` with K above every value never carries one
    person's values into the next, and is several times faster than ``cum_max().over``;
    when the offsets could overflow int64 the ``over`` form is used instead."""
    top = frame.select(pl.col(column).max(), pl.col("_p").max()).row(0)
    k = (top[0] or 0) + 1
    if (top[1] or 0) < (2**62) // k:
        shift = pl.col("_p").cast(pl.Int64) * k
        return (pl.col(column) + shift).cum_max() - shift
    return pl.col(column).cum_max().over("_p")


def _outcome_cols(rules: TierRules) -> list[str]:
    return [f"{s}_{x.id}" for x in rules.liabilities for s in OUTCOMES]


def _fed(todo: pl.DataFrame, out: pl.DataFrame, o_cols: list[str]) -> pl.DataFrame:
    """For each reversal of ``todo`` whose original is in the frame: the original's outcome in ``out``."""
    return (
        todo.filter(pl.col("_rev") & ~pl.col(ORIGINAL_PRIOR))
        .select("_row", "init_setl_id")
        .join(
            out.select(pl.col("setl_id").alias("init_setl_id"), *[pl.col(c[len(ORIGINAL) :]).alias(c) for c in o_cols]),
            on="init_setl_id",
            how="left",
        )
        .drop("init_setl_id")
    )


def settle_reversals(df: pl.DataFrame, first: pl.DataFrame, rules: TierRules, explain: bool = False) -> pl.DataFrame:
    """Recompute persons with reversals until each reversal carries its original's final outcome.

    ``first`` is the fast pass over the same rows with reversals counted as nothing: exact up
    to each person's first reversal, so it already holds the final outcome of every original
    that no reversal precedes. Fed those, one pass settles such persons; a person whose
    original comes after an earlier reversal needs one more pass per level of nesting, and
    only persons whose reversals changed are run again.
    """
    o_cols = [f"{ORIGINAL}{c}" for c in _outcome_cols(rules)]
    todo = df.update(_fed(df, first, o_cols), on="_row")
    done: list[pl.DataFrame] = []
    for _ in range(MAX_PASSES):
        out = accumulate(todo, rules, reversals=True, explain=explain)
        fresh = _fed(todo, out, o_cols)
        current = todo.filter(pl.col("_rev") & ~pl.col(ORIGINAL_PRIOR)).select("_row", *o_cols)
        changed = fresh.join(current, on="_row", suffix="_was").filter(
            pl.any_horizontal(*[pl.col(c) != pl.col(f"{c}_was") for c in o_cols])
        )
        if not changed.height:
            done.append(out)
            return pl.concat(done, how="vertical_relaxed")
        again = todo.filter(pl.col("_row").is_in(changed["_row"].implode()))["_p"].unique().implode()
        done.append(out.filter(~pl.col("_p").is_in(again)))
        todo = firsts(todo.filter(pl.col("_p").is_in(again)).update(fresh, on="_row"))
    raise EngineError("退费冲回的嵌套层数超过引擎允许的上限")  # pragma: no cover


def in_time_order(df: pl.DataFrame) -> pl.DataFrame:
    """Sort by person, ``setl_time``, ``setl_id`` and number the persons (``_p``). The person is
    keyed by its integer index: sorting on the ``psn_no`` strings costs several times more."""
    df = df.sort("_pidx", "setl_time", "setl_id")
    return df.with_columns(pl.col("_pidx").ne(pl.col("_pidx").shift(1)).fill_null(True).cum_sum().alias("_p"))


def firsts(df: pl.DataFrame) -> pl.DataFrame:
    """Mark each person's first record (the frame is sorted by person, then time, and stays so)."""
    return df.with_columns(pl.col("_p").ne(pl.col("_p").shift(1)).fill_null(True).alias("_first"))


def final_accumulators(settled: pl.DataFrame, prior: pl.DataFrame | None, tiers: list[TierRules]) -> pl.DataFrame:
    """The state after each person's last record, as (psn_no, key, value); untouched priors carry over.

    A person's records are contiguous and in time order in ``settled`` (one tier, one part)."""
    schema = {"psn_no": pl.Utf8, "key": pl.Utf8, "value": pl.Int64}
    active = settled.filter(pl.col("_active"))
    last = active.filter(pl.col("psn_no").ne(pl.col("psn_no").shift(-1)).fill_null(True))
    frames = []
    for rules in tiers:
        keys = key_cols(rules)
        mine = last.filter(pl.col("tier") == rules.tier_id).select(
            "psn_no", *[pl.col(c).alias(k) for k, c in keys.items()]
        )
        if mine.height:
            frames.append(mine.unpivot(index="psn_no", variable_name="key", value_name="value").cast(schema))
    out = pl.concat(frames) if frames else pl.DataFrame(schema=schema)
    if prior is not None and prior.height:
        out = pl.concat([prior.cast(schema).join(out, on=["psn_no", "key"], how="anti"), out])
    return out
