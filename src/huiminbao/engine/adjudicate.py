"""The adjudication engine: a whole year of settlements, vectorised, exact to the fen.

Pure: frames in, frames out, no I/O. The real-time path calls it on one settlement with
the person's stored accumulators as ``prior``; the batch path calls it on a year; both
get the same payouts because they run the same function (tests prove it).

How a year is computed without a loop over records (see ../shared/ENGINE-NOTES.md):
every annual accumulator (deductible used, exact entitlement per liability, total paid)
is a capped running sum in ``setl_time`` order. With x0 the prior value, S the person's
running sum of increments and C the cap, the capped sum is
``x = x0 + S - max(0, running max of (x0 + S - C))``; when a person has no reversal all
increments are non-negative and this is just ``min(C, x0 + S)``. Running sums per person
are one global ``cum_sum`` minus the value before the person's first record: integer
arithmetic wraps, so the difference is exact whatever the global total.

A reversal's increments are the negatives of its original's outcome, which depends on
the records before it; the few persons with reversals are therefore recomputed until
their reversals' values stop changing (one extra pass per level of reversal nesting).
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from huiminbao.engine.columns import LINE_TO_SETTLEMENT_FIELD, REFUND_FLAG
from huiminbao.engine.prepare import EngineError, age_expr, check_tiers, place_columns, tier_column
from huiminbao.engine.rules import EXACT, Cond, TierRules, tier_rules
from huiminbao.money import BP
from huiminbao.plans import expr as E
from huiminbao.plans.loader import PERSON_NAMES, Compiled

OUTCOMES = ("base", "counted", "deductible_used", "ratio", "entitled", "payout")
SMALL = 100_000  # below this many records, outputs are put back in record order
MAX_PASSES = 64


@dataclass(frozen=True)
class Adjudication:
    settlements: pl.DataFrame  # setl_id, psn_no, tier, payout (fen)
    lines: pl.DataFrame  # setl_id, psn_no, liability, base, counted, deductible_used, ratio, entitled, payout
    accumulators: pl.DataFrame  # psn_no, key, value: the state after the last record


def adjudicate(
    compiled: Compiled,
    settlements: pl.DataFrame,
    insured: pl.DataFrame,
    fee_lines: pl.DataFrame | None = None,
    prior: pl.DataFrame | None = None,
    prior_lines: pl.DataFrame | None = None,
    *,
    all_lines: bool = True,
) -> Adjudication:
    """Adjudicate settlements under a plan.

    ``prior``: accumulators (psn_no, key, value) from earlier adjudications of the year.
    ``prior_lines``: outcome lines of settlements adjudicated earlier, for reversals whose
    original is not in ``settlements``. ``all_lines=False`` keeps only lines with an amount.
    """
    plan = compiled.plan
    people = _people(compiled, insured)
    frame = (
        settlements.lazy()
        .select(_needed(compiled, settlements.columns))
        .with_row_index("_row")
        .with_columns((pl.col("refd_setl_flag") == REFUND_FLAG).fill_null(False).alias("_rev"))
    )
    _check_reversals(frame, prior_lines)
    if not all_lines:  # records no liability could pay on need neither a person nor an order
        frame = frame.filter(_candidates(compiled, fee_lines))
    frame = (
        frame.join(people.lazy().select(_person_columns(compiled)), on="psn_no", how="left")
        .with_columns(
            pl.col("_tier").fill_null(plan.tier().id),
            *[pl.col(c).fill_null([]) for c in ("preexisting", "populations") if c in _read(compiled)],
            *place_columns(),
            pl.col("out_area_filed").fill_null(False),
        )
        .with_columns(
            (
                pl.col("_known").fill_null(False)
                & pl.col("begndate")
                .is_between(
                    pl.col("_cover_start").fill_null(plan.cover_start),
                    pl.col("_cover_end").fill_null(plan.cover_end),
                )
                .fill_null(False)
            ).alias("_covered")
        )
        .collect()
    )
    skipped = None
    if not all_lines:
        kept = frame["_row"]
        skipped = (
            settlements.lazy()
            .select("setl_id", "psn_no")
            .with_row_index("_row")
            .filter(~pl.col("_row").is_in(kept.implode()))
            .select(
                "_row", pl.lit(False).alias("_active"), "setl_id", "psn_no",
                pl.lit(plan.tiers[0].id if len(plan.tiers) == 1 else None, pl.Utf8).alias("tier"),
                pl.lit(0, pl.Int64).alias("payout"),
            )
            .collect()
        )  # fmt: skip
    if "diseases" not in frame.columns:
        frame = frame.with_columns(pl.lit([], dtype=pl.List(pl.Utf8)).alias("diseases"))
    tiers = set(frame["_tier"].unique().to_list())
    check_tiers(compiled, tiers)
    rules = {t: tier_rules(compiled, t) for t in tiers}
    setl_out, line_out = [], []
    for tier_id in sorted(tiers):
        part = frame.filter(pl.col("_tier") == tier_id) if len(tiers) > 1 else frame
        s, ln = _run_tier(part, fee_lines, rules[tier_id], prior, prior_lines, all_lines)
        setl_out.append(s)
        line_out.append(ln)
    settled = pl.concat(setl_out, how="diagonal_relaxed") if setl_out else _empty_settlements()
    accs = _accumulators(settled, prior, list(rules.values()))
    settled = settled.select(_empty_settlements().columns)
    if skipped is not None:
        settled = pl.concat([settled, skipped], how="vertical_relaxed")
    lines = pl.concat(line_out) if line_out else _empty_lines()
    if not all_lines:
        lines = lines.filter((pl.col("counted") != 0) | (pl.col("payout") != 0) | (pl.col("entitled") != 0))
    if settled.height <= SMALL:  # estimates and real time: records in input order, lines in precedence order
        settled, lines = settled.sort("_row"), lines.sort("_row", "_k")
    return Adjudication(
        settlements=settled.drop("_row", "_active"),
        lines=lines.drop("_row", "_k"),
        accumulators=accs,
    )


def _read(compiled: Compiled) -> set[str]:
    """Every field name the plan's expressions read."""
    return {f for e in compiled.exprs.values() for f in e.fields}


def _person_columns(compiled: Compiled) -> list[str]:
    """The person attributes the engine needs: coverage and tier always, the rest if a rule reads them."""
    read = _read(compiled)
    return ["psn_no", "_pidx", "_tier", "_known", "_cover_start", "_cover_end"] + [
        c for c in ("tier", "preexisting", "populations", "age") if c in read
    ]


def claimable_lines(compiled: Compiled) -> pl.Expr | None:
    """The fee lines any line liability of any tier could claim, judged on the line's codes alone;
    None when the plan has no line liability (no line matters) or a line condition reads an amount
    (then every line must be read). Lines outside it change no payout."""
    conds = [
        compiled.exprs[f"tiers[{ti}].liabilities[{li}].lines"]
        for ti, tier in enumerate(compiled.plan.tiers)
        for li, liab in enumerate(tier.liabilities)
        if liab.lines is not None
    ]
    if not conds:
        return pl.lit(False)
    if any(set(c.fields) - {"med_list_codg", "chrgitm_lv", "med_chrgitm_type", "setl_id", "feedetl_sn"} for c in conds):
        return None
    return pl.any_horizontal(*[E.to_polars(c, compiled.catalogs) for c in conds])


def _candidates(compiled: Compiled, fee_lines: pl.DataFrame | None) -> pl.Expr:
    """Records some liability of some tier could pay on, judged on the record alone: a reversal,
    a positive settlement base (before claims and conditions, which only lower it), or a fee
    line a line liability could claim. Everything else pays nothing in any tier."""
    cats = compiled.catalogs
    out = pl.col("_rev")
    line_conds = []
    for ti, tier in enumerate(compiled.plan.tiers):
        for li, liab in enumerate(tier.liabilities):
            lp = f"tiers[{ti}].liabilities[{li}]"
            if liab.lines is not None:
                line_conds.append(E.to_polars(compiled.exprs[f"{lp}.lines"], cats))
            else:
                could = E.to_polars(compiled.exprs[f"{lp}.base"], cats) > 0
                when = compiled.exprs.get(f"{lp}.when")
                if when is not None and not when.fields & PERSON_NAMES.keys():
                    could = could & E.to_polars(when, cats)
                out = out | could
    if line_conds and fee_lines is not None and fee_lines.height:
        hits = fee_lines.lazy().filter(pl.any_horizontal(*line_conds)).select("setl_id").unique().collect()
        out = out | pl.col("setl_id").is_in(hits["setl_id"].implode())
    return out


REQUIRED = ("setl_id", "psn_no", "setl_time", "begndate")
OPTIONAL: dict[str, pl.Expr] = {
    "refd_setl_flag": pl.lit("0"),
    "init_setl_id": pl.lit(None, pl.Utf8),
    "insu_admdvs": pl.lit(None, pl.Utf8),
    "mdtrt_area_admvs": pl.lit(None, pl.Utf8),
    "out_area_filed": pl.lit(False),
}


def _needed(compiled: Compiled, columns: list[str]) -> list[pl.Expr]:
    """The settlement columns the plan's rules read (the engine carries nothing else), with
    defaults for the optional ones."""
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise EngineError(f"settlements: column {missing[0]} is missing")
    read = _read(compiled)
    keep = [pl.col(c) for c in columns if c in REQUIRED or c in OPTIONAL or c in read]
    return keep + [default.alias(c) for c, default in OPTIONAL.items() if c not in columns]


def _empty_settlements() -> pl.DataFrame:
    return pl.DataFrame(
        schema={"_row": pl.UInt32, "_active": pl.Boolean, "setl_id": pl.Utf8, "psn_no": pl.Utf8, "tier": pl.Utf8}
        | {"payout": pl.Int64}
    )


def _empty_lines() -> pl.DataFrame:
    return pl.DataFrame(
        schema={"_row": pl.UInt32, "setl_id": pl.Utf8, "psn_no": pl.Utf8, "liability": pl.Utf8, "_k": pl.UInt8}
        | dict.fromkeys(OUTCOMES, pl.Int64)
    )


def _people(compiled: Compiled, insured: pl.DataFrame) -> pl.DataFrame:
    """The insured persons as the engine needs them: index, tier, coverage, and the attributes
    the plan's rules read (lists and age only when some rule reads them)."""
    cols = insured.columns
    if "psn_no" not in cols:
        raise EngineError("insured: column psn_no is missing")
    if insured.height != insured["psn_no"].n_unique():
        dup = insured.filter(pl.col("psn_no").is_duplicated())["psn_no"][0]
        raise EngineError(f"insured: psn_no {dup!r} appears more than once")
    read = _read(compiled) | {"tier"}
    for ti in range(len(compiled.plan.tiers)):
        if (assign := compiled.exprs.get(f"tiers[{ti}].assign")) is not None:
            read |= assign.fields
    start = compiled.plan.cover_start
    given = {
        "tier": (pl.col("tier") if "tier" in cols else pl.lit(None, pl.Utf8)),
        "preexisting": (pl.col("preexisting").fill_null([]) if "preexisting" in cols else pl.lit([], pl.List(pl.Utf8))),
        "populations": (pl.col("populations").fill_null([]) if "populations" in cols else pl.lit([], pl.List(pl.Utf8))),
        "age": (age_expr(pl.col("birth_date"), start) if "birth_date" in cols else pl.lit(None, pl.Int64)),
    }
    frame = insured.select(
        "psn_no",
        *[expr.alias(name) for name, expr in given.items() if name in read],
        (pl.col("cover_start") if "cover_start" in cols else pl.lit(None, pl.Date)).alias("_cover_start"),
        (pl.col("cover_end") if "cover_end" in cols else pl.lit(None, pl.Date)).alias("_cover_end"),
        pl.lit(True).alias("_known"),
        pl.int_range(pl.len(), dtype=pl.UInt32).alias("_pidx"),
    )
    return frame.with_columns(tier_column(compiled).alias("_tier"))


def _first(conds: tuple[Cond, ...], default: pl.Expr, cats: E.Catalogs) -> pl.Expr:
    out = default
    for c in reversed(conds):
        out = pl.when(E.to_polars(c.expr, cats)).then(pl.lit(c.value, pl.Int64)).otherwise(out)
    return out


def _bases(df: pl.DataFrame, fee_lines: pl.DataFrame | None, rules: TierRules) -> pl.DataFrame:
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
        factor = _first(liab.counting, pl.lit(BP, pl.Int64), cats)
        ratio = _first(liab.ratios, pl.lit(liab.ratio_default, pl.Int64), cats)
        exprs += [
            base.alias(f"base_{liab.id}"),
            factor.alias(f"_f_{liab.id}"),
            ratio.alias(f"ratio_{liab.id}"),
        ]
    exprs += [(_first(p.rules, pl.lit(p.default, pl.Int64), cats) * BP).alias(f"_D_{p.key}") for p in rules.pools]
    df = df.with_columns(exprs)
    return df.with_columns(
        *[(pl.col(f"base_{x.id}") * pl.col(f"_f_{x.id}")).alias(f"counted_{x.id}") for x in rules.liabilities]
    )


# --- accumulators ------------------------------------------------------------------------------


def _key_cols(rules: TierRules) -> dict[str, str]:
    """Accumulator key -> state column name for one tier."""
    keys = {f"ded:{p.key}": f"_x_d_{p.key}" for p in rules.pools}
    keys.update({f"ent:{x.id}": f"_x_e_{x.id}" for x in rules.liabilities})
    keys["paid"] = "_x_paid"
    return keys


def _with_prior(df: pl.DataFrame, rules: TierRules, prior: pl.DataFrame | None) -> pl.DataFrame:
    keys = _key_cols(rules)
    x0 = {key: "_x0" + col[2:] for key, col in keys.items()}
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


def _originals(df: pl.DataFrame, rules: TierRules, prior_lines: pl.DataFrame | None) -> pl.DataFrame:
    """Give reversal rows their original's outcome (``_o_<stat>_<liability>``) from earlier adjudications."""
    cols = [f"_o_{s}_{x.id}" for x in rules.liabilities for s in OUTCOMES]
    df = df.with_columns(*[pl.lit(0, pl.Int64).alias(c) for c in cols])
    if prior_lines is not None and prior_lines.height and df["_rev"].any():
        wide = prior_lines.filter(pl.col("liability").is_in([x.id for x in rules.liabilities])).pivot(
            on="liability", index="setl_id", values=list(OUTCOMES), aggregate_function="first"
        )
        rename = {f"{s}_{x.id}": f"_o_{s}_{x.id}" for x in rules.liabilities for s in OUTCOMES}
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
            .with_columns(pl.col("init_setl_id").is_in(wide["setl_id"].implode()).alias("_o_prior"))
        )
    else:
        df = df.with_columns(pl.lit(False).alias("_o_prior"))
    return df


def _accumulate(df: pl.DataFrame, rules: TierRules, reversals: bool) -> pl.DataFrame:
    """Run every accumulator over a frame sorted by person and time.

    ``reversals=False`` is the fast path for persons without a reversal: all increments are
    non-negative, so a capped running sum is ``min(cap, x0 + S)`` and no reversal branch is
    evaluated. With reversals, increments may be negative and the cap needs the running max.
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
            frame = lf.with_columns(*[e.alias(f"_m_{name}") for name, e in over]).collect()
            for name, _ in over:
                out.append((pl.col(name) - _person_running_max(frame, f"_m_{name}")).alias(name))
            return frame.lazy().with_columns(out).drop(*[f"_m_{name}" for name, _ in over])
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
            total = on_rev(-pl.sum_horizontal(*[pl.col(f"_o_deductible_used_{m}") for m in p.members]), total)
        accs.append((f"_x_d_{p.key}", total, pl.col(f"_x0_d_{p.key}"), pl.col(f"_D_{p.key}")))
    lf = capped(lf, accs)
    used: list[pl.Expr] = []
    for p in rules.pools:
        took = pl.col(f"_x_d_{p.key}") - before(f"_x_d_{p.key}", f"_x0_d_{p.key}")
        ahead: pl.Expr = pl.lit(0, pl.Int64)
        for m in p.members:
            share = pl.min_horizontal(pl.max_horizontal(took - ahead, pl.lit(0)), pl.col(f"counted_{m}"))
            used.append(on_rev(-pl.col(f"_o_deductible_used_{m}"), share).alias(f"deductible_used_{m}"))
            ahead = ahead + pl.col(f"counted_{m}")
    lf = lf.with_columns(used)

    accs = []
    for x in liabs:
        q = (pl.col(f"counted_{x.id}") - pl.col(f"deductible_used_{x.id}")) * pl.col(f"ratio_{x.id}")
        cap = None if x.limit is None else pl.lit(x.limit * EXACT, pl.Int64)
        if cap is not None:
            q = pl.min_horizontal(q, cap + EXACT)  # keeps running sums small; the cap cuts the same
        inc = on_rev(-pl.col(f"_o_entitled_{x.id}") * EXACT, q)
        accs.append((f"_x_e_{x.id}", inc, pl.col(f"_x0_e_{x.id}"), cap))
    lf = capped(lf, accs)
    lf = lf.with_columns(
        *[
            on_rev(
                -pl.col(f"_o_entitled_{x.id}"),
                r(pl.col(f"_x_e_{x.id}")) - r(before(f"_x_e_{x.id}", f"_x0_e_{x.id}")),
            ).alias(f"entitled_{x.id}")
            for x in liabs
        ]
    )
    entitled = pl.sum_horizontal(*[pl.col(f"entitled_{x.id}") for x in liabs])
    overall = None if rules.overall_limit is None else pl.lit(rules.overall_limit, pl.Int64)
    if reversals:
        entitled = on_rev(-pl.sum_horizontal(*[pl.col(f"_o_payout_{x.id}") for x in liabs]), entitled)
    lf = capped(lf, [("_x_paid", entitled, pl.col("_x0_paid"), overall)])
    lf = lf.with_columns((pl.col("_x_paid") - before("_x_paid", "_x0_paid")).alias("payout"))
    pays: list[pl.Expr] = []
    ahead = pl.lit(0, pl.Int64)
    for x in liabs:
        share = pl.min_horizontal(pl.max_horizontal(pl.col("payout") - ahead, pl.lit(0)), pl.col(f"entitled_{x.id}"))
        pays.append(on_rev(-pl.col(f"_o_payout_{x.id}"), share).alias(f"payout_{x.id}"))
        ahead = ahead + pl.col(f"entitled_{x.id}")
    lf = lf.with_columns(pays)
    if reversals:
        lf = lf.with_columns(
            *[
                pl.when(rev).then(-pl.col(f"_o_{s}_{x.id}")).otherwise(pl.col(f"{s}_{x.id}")).alias(f"{s}_{x.id}")
                for x in liabs
                for s in ("base", "counted")
            ],
            *[
                pl.when(rev).then(pl.col(f"_o_ratio_{x.id}")).otherwise(pl.col(f"ratio_{x.id}")).alias(f"ratio_{x.id}")
                for x in liabs
            ],
        )
    return lf.drop("_i", "_start").collect()


def _person_running_max(frame: pl.DataFrame, column: str) -> pl.Expr:
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


def _check_reversals(frame: pl.LazyFrame, prior_lines: pl.DataFrame | None) -> None:
    """Every reversal names an earlier settlement of the same person, here or adjudicated before."""
    originals = frame.select(
        pl.col("setl_id").alias("init_setl_id"),
        pl.col("psn_no").alias("_opsn"),
        pl.col("setl_time").alias("_otime"),
        pl.col("setl_id").alias("_oid"),
    )
    earlier = prior_lines["setl_id"].unique().implode() if prior_lines is not None else pl.lit([], pl.List(pl.Utf8))
    bad = (
        frame.select("setl_id", "psn_no", "setl_time", "init_setl_id", "_rev")
        .filter(pl.col("_rev") & ~pl.col("init_setl_id").is_in(earlier))
        .join(originals, on="init_setl_id", how="left")
        .filter(
            pl.col("_opsn").is_null()
            | (pl.col("_opsn") != pl.col("psn_no"))
            | (pl.col("_otime") > pl.col("setl_time"))
            | ((pl.col("_otime") == pl.col("setl_time")) & (pl.col("_oid") >= pl.col("setl_id")))
        )
        .collect()
    )
    if bad.height:
        row = bad.row(0, named=True)
        raise EngineError(
            f"settlement {row['setl_id']}: init_setl_id {row['init_setl_id']!r} names no earlier settlement "
            f"of person {row['psn_no']}"
        )


def _fed(todo: pl.DataFrame, out: pl.DataFrame, o_cols: list[str]) -> pl.DataFrame:
    """For each reversal of ``todo`` whose original is in the frame: the original's outcome in ``out``."""
    return (
        todo.filter(pl.col("_rev") & ~pl.col("_o_prior"))
        .select("_row", "init_setl_id")
        .join(
            out.select(pl.col("setl_id").alias("init_setl_id"), *[pl.col(c[3:]).alias(c) for c in o_cols]),
            on="init_setl_id",
            how="left",
        )
        .drop("init_setl_id")
    )


def _settle_reversals(df: pl.DataFrame, first: pl.DataFrame, rules: TierRules) -> pl.DataFrame:
    """Recompute persons with reversals until each reversal carries its original's final outcome.

    ``first`` is the fast pass over the same rows with reversals counted as nothing: exact up
    to each person's first reversal, so it already holds the final outcome of every original
    that no reversal precedes. Fed those, one pass settles such persons; a person whose
    original comes after an earlier reversal needs one more pass per level of nesting, and
    only persons whose reversals changed are run again.
    """
    o_cols = [f"_o_{c}" for c in _outcome_cols(rules)]
    todo = df.update(_fed(df, first, o_cols), on="_row")
    done: list[pl.DataFrame] = []
    for _ in range(MAX_PASSES):
        out = _accumulate(todo, rules, reversals=True)
        fresh = _fed(todo, out, o_cols)
        current = todo.filter(pl.col("_rev") & ~pl.col("_o_prior")).select("_row", *o_cols)
        changed = fresh.join(current, on="_row", suffix="_was").filter(
            pl.any_horizontal(*[pl.col(c) != pl.col(f"{c}_was") for c in o_cols])
        )
        if not changed.height:
            done.append(out)
            return pl.concat(done, how="vertical_relaxed")
        again = todo.filter(pl.col("_row").is_in(changed["_row"].implode()))["_p"].unique().implode()
        done.append(out.filter(~pl.col("_p").is_in(again)))
        todo = _firsts(todo.filter(pl.col("_p").is_in(again)).update(fresh, on="_row"))
    raise EngineError("reversals did not settle: a reversal chain is deeper than the engine allows")  # pragma: no cover


def _run_tier(
    part: pl.DataFrame,
    fee_lines: pl.DataFrame | None,
    rules: TierRules,
    prior: pl.DataFrame | None,
    prior_lines: pl.DataFrame | None,
    all_lines: bool,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """One tier's records. Only records that count toward something (a base or a reversal) touch
    the accumulators, so only those are sorted into person and time order and accumulated; the
    others pay nothing and change nothing."""
    df = _bases(part, fee_lines, rules)
    active = pl.col("_known").fill_null(False) & (
        pl.col("_rev")
        | pl.any_horizontal(*[pl.col(f"{s}_{x.id}") != 0 for x in rules.liabilities for s in ("base", "counted")])
    )
    keep = [
        "_row", "setl_id", "psn_no", "setl_time", "_tier", "_rev", "init_setl_id",
        *[f"{s}_{x.id}" for x in rules.liabilities for s in ("base", "counted", "ratio")],
        *[f"_D_{p.key}" for p in rules.pools],
    ]  # fmt: skip
    act = _in_time_order(df.lazy().filter(active).select(*keep, "_pidx").collect())
    act = _firsts(_with_prior(act, rules, prior))
    out = _accumulate(act, rules, reversals=False)
    if act["_rev"].any():
        mask = pl.col("_p").is_in(act.filter(pl.col("_rev"))["_p"].unique().implode())
        with_rev = _originals(act.filter(mask), rules, prior_lines)
        # an original that counted toward nothing is not in ``act``: its reversal still shows its ratio
        ratios = df.select(
            pl.col("setl_id").alias("init_setl_id"),
            *[pl.col(f"ratio_{x.id}").alias(f"_o_ratio_{x.id}") for x in rules.liabilities],
        )
        with_rev = with_rev.update(ratios, on="init_setl_id")
        settled_rev = _settle_reversals(with_rev, out.filter(mask), rules)
        out = pl.concat([out.filter(~mask), settled_rev.select(out.columns)])
    state = list(_key_cols(rules).values())
    settled = pl.concat(
        [
            out.select("_row", pl.lit(True).alias("_active"), "setl_id", "psn_no", pl.col("_tier").alias("tier"), "payout", *state),
            df.lazy().filter(~active).select(
                "_row", pl.lit(False).alias("_active"), "setl_id", "psn_no", pl.col("_tier").alias("tier"),
                pl.lit(0, pl.Int64).alias("payout"), *[pl.lit(None, pl.Int64).alias(c) for c in state],
            ).collect(),
        ]
    )  # fmt: skip
    if not all_lines:
        out = out.filter(
            pl.any_horizontal(*[pl.col(f"{s}_{x.id}") != 0 for x in rules.liabilities for s in ("counted", "entitled")])
        )
    else:
        zeros = [
            pl.lit(0, pl.Int64).alias(f"{s}_{x.id}")
            for x in rules.liabilities
            for s in ("deductible_used", "entitled", "payout")
        ]
        out = pl.concat([out, df.filter(~active).with_columns(zeros)], how="diagonal_relaxed")
    lines = pl.concat(
        [
            out.select(
                "_row",
                "setl_id",
                "psn_no",
                pl.lit(x.id).alias("liability"),
                pl.lit(k, pl.UInt8).alias("_k"),
                *[pl.col(f"{s}_{x.id}").alias(s) for s in OUTCOMES],
            )
            for k, x in enumerate(rules.liabilities)
        ]
    )
    return settled, lines


def _in_time_order(df: pl.DataFrame) -> pl.DataFrame:
    """Sort by person, ``setl_time``, ``setl_id`` and number the persons (``_p``). The person is
    keyed by its integer index: sorting on the ``psn_no`` strings costs several times more."""
    df = df.sort("_pidx", "setl_time", "setl_id")
    return df.with_columns(pl.col("_pidx").ne(pl.col("_pidx").shift(1)).fill_null(True).cum_sum().alias("_p"))


def _firsts(df: pl.DataFrame) -> pl.DataFrame:
    """Mark each person's first record (the frame is sorted by person, then time, and stays so)."""
    return df.with_columns(pl.col("_p").ne(pl.col("_p").shift(1)).fill_null(True).alias("_first"))


def _accumulators(settled: pl.DataFrame, prior: pl.DataFrame | None, tiers: list[TierRules]) -> pl.DataFrame:
    """The state after each person's last record, as (psn_no, key, value); untouched priors carry over.

    A person's records are contiguous and in time order in ``settled`` (one tier, one part)."""
    schema = {"psn_no": pl.Utf8, "key": pl.Utf8, "value": pl.Int64}
    active = settled.filter(pl.col("_active"))
    last = active.filter(pl.col("psn_no").ne(pl.col("psn_no").shift(-1)).fill_null(True))
    frames = []
    for rules in tiers:
        keys = _key_cols(rules)
        mine = last.filter(pl.col("tier") == rules.tier_id).select(
            "psn_no", *[pl.col(c).alias(k) for k, c in keys.items()]
        )
        if mine.height:
            frames.append(mine.unpivot(index="psn_no", variable_name="key", value_name="value").cast(schema))
    out = pl.concat(frames) if frames else pl.DataFrame(schema=schema)
    if prior is not None and prior.height:
        out = pl.concat([prior.cast(schema).join(out, on=["psn_no", "key"], how="anti"), out])
    return out
