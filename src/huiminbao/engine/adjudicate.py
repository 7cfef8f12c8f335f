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

This module orchestrates: it checks the input, sets aside records no liability could pay
on, joins persons, and per tier computes bases (``bases``) and accumulators
(``accumulate``), then assembles payouts, explanation lines and the state after the year.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from huiminbao.engine.accumulate import (
    OUTCOMES,
    accumulate,
    final_accumulators,
    firsts,
    in_time_order,
    key_cols,
    originals,
    settle_reversals,
    with_prior,
)
from huiminbao.engine.bases import bases
from huiminbao.engine.names import DEDUCTIBLE, LIMITED, ORIGINAL, REASON, STATE
from huiminbao.engine.prepare import (
    STATUS,
    EngineError,
    Status,
    age_expr,
    check_tiers,
    person_status,
    place_columns,
    record_status,
    tier_column,
)
from huiminbao.engine.reasons import line_reason, reason_columns, status_reason
from huiminbao.engine.rules import TierRules, tier_rules
from huiminbao.engine.run import SMALL, collect, sized
from huiminbao.plans import expr as E
from huiminbao.plans.loader import PERSON_NAMES, Compiled
from huiminbao.vocabulary import REFUND_FLAG, SETTLEMENT_SCHEMA, label


@dataclass(frozen=True)
class Adjudication:
    settlements: pl.DataFrame  # setl_id, psn_no, tier, status, payout (fen); with explain also reason
    lines: pl.DataFrame  # setl_id, psn_no, liability, base, counted, deductible_used, ratio, entitled, payout[, reason]
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
    explain: bool = False,
) -> Adjudication:
    """Adjudicate settlements under a plan.

    ``prior``: accumulators (psn_no, key, value) from earlier adjudications of the year.
    ``prior_lines``: outcome lines of settlements adjudicated earlier, for reversals whose
    original is not in ``settlements``. ``all_lines=False`` keeps only lines with an amount.
    ``explain`` adds ``reason``: a plain-Chinese sentence on each settlement that cannot pay at
    all and on each line that pays less than its base (``engine.reasons``).
    """
    with sized(settlements.height):
        return _adjudicate(compiled, settlements, insured, fee_lines, prior, prior_lines, all_lines, explain)


def _adjudicate(
    compiled: Compiled,
    settlements: pl.DataFrame,
    insured: pl.DataFrame,
    fee_lines: pl.DataFrame | None,
    prior: pl.DataFrame | None,
    prior_lines: pl.DataFrame | None,
    all_lines: bool,
    explain: bool,
) -> Adjudication:
    plan = compiled.plan
    people = _people(compiled, insured)
    frame = (
        settlements.lazy()
        .select(_needed(compiled, settlements.columns))
        .with_row_index("_row")
        .with_columns((pl.col("refd_setl_flag") == REFUND_FLAG).fill_null(False).alias("_rev"))
        .with_columns(record_status(plan).alias("_status0"))
    )
    skipped = None
    if not all_lines:  # records no liability could pay on need neither a person nor an order
        head = frame.with_columns(_candidates(compiled, fee_lines).alias("_cand")).pipe(collect)
        frame = head.lazy()
        skipped = (
            frame.filter(~pl.col("_cand"))
            .select(
                "_row", pl.lit(False).alias("_active"), "setl_id", "psn_no",
                pl.lit(plan.tiers[0].id if len(plan.tiers) == 1 else None, pl.Utf8).alias("tier"),
                pl.when(~pl.col("psn_no").is_in(people["psn_no"].implode()))
                .then(pl.lit(Status.NOT_INSURED.value))
                .otherwise(pl.coalesce(pl.col("_status0").cast(pl.Utf8), pl.lit(Status.COVERED.value)))
                .cast(STATUS).alias("status"),
                pl.lit(0, pl.Int64).alias("payout"),
            )
            .pipe(collect)
        )  # fmt: skip
    _check_reversals(frame, prior_lines)
    if not all_lines:
        frame = frame.filter(pl.col("_cand")).drop("_cand")
    frame = (
        frame.join(people.lazy().select(_person_columns(compiled)), on="psn_no", how="left")
        .with_columns(
            pl.col("_tier").fill_null(plan.tier().id),
            *[pl.col(c).fill_null([]) for c in ("preexisting", "populations") if c in compiled.fields],
            *place_columns(),
            pl.col("out_area_filed").fill_null(False),
        )
        .with_columns(person_status(plan).alias("_status"))
        .with_columns((pl.col("_status") == Status.COVERED.value).alias("_covered"))
        .pipe(collect)
    )
    if "diseases" in compiled.fields and "diseases" not in frame.columns:
        frame = frame.with_columns(pl.lit([], dtype=pl.List(pl.Utf8)).alias("diseases"))
    tiers = set(frame["_tier"].unique().to_list())
    check_tiers(compiled, tiers)
    rules = {t: tier_rules(compiled, t) for t in tiers}
    setl_out, line_out = [], []
    for tier_id in sorted(tiers):
        part = frame.filter(pl.col("_tier") == tier_id) if len(tiers) > 1 else frame
        s, ln = _run_tier(part, fee_lines, rules[tier_id], prior, prior_lines, all_lines, explain)
        setl_out.append(s)
        line_out.append(ln)
    settled = pl.concat(setl_out, how="diagonal_relaxed") if setl_out else _empty_settlements()
    accs = final_accumulators(settled, prior, list(rules.values()))
    settled = settled.select(_empty_settlements().columns)
    if skipped is not None:
        settled = pl.concat([settled, skipped], how="vertical_relaxed")
    lines = pl.concat(line_out) if line_out else _empty_lines(explain)
    if not all_lines:
        shown = (pl.col("counted") != 0) | (pl.col("payout") != 0) | (pl.col("entitled") != 0)
        lines = lines.filter(shown | (pl.col("base") != 0) if explain else shown)
    if explain:
        settled = settled.with_columns(status_reason(pl.col("status")).alias("reason"))
    if settled.height <= SMALL:  # estimates and real time: records in input order, lines in precedence order
        settled, lines = settled.sort("_row"), lines.sort("_row", "_k")
    return Adjudication(
        settlements=settled.drop("_row", "_active"),
        lines=lines.drop("_row", "_k"),
        accumulators=accs,
    )


def _person_columns(compiled: Compiled) -> list[str]:
    """The person attributes the engine needs: coverage and tier always, the rest if a rule reads them."""
    read = compiled.fields
    return ["psn_no", "_pidx", "_tier", "_known", "_cover_start", "_cover_end", "_insu_status", "_insu_status_date"] + [
        c for c in ("tier", "preexisting", "populations", "age") if c in read
    ]


def _line_conditions(compiled: Compiled) -> list[E.Expr]:
    """The ``lines`` condition of every fee-line liability of every tier."""
    return [x.lines for tier in compiled.tiers for x in tier.liabilities if x.lines is not None]


def claimable_lines(*plans: Compiled) -> pl.Expr | None:
    """The fee lines any line liability of any tier of the plans could claim, judged on the line's codes
    alone; None when a line condition reads an amount (then every line must be read). Lines outside it
    change no payout. Several plans (what-if's base and candidate): one read serves every run."""
    conds = [(c, p.catalogs) for p in plans for c in _line_conditions(p)]
    if not conds:
        return pl.lit(False)
    codes = {"med_list_codg", "chrgitm_lv", "med_chrgitm_type", "setl_id", "feedetl_sn"}
    if any(set(c.fields) - codes for c, _ in conds):
        return None
    return pl.any_horizontal(*[E.to_polars(c, cats) for c, cats in conds])


def _candidates(compiled: Compiled, fee_lines: pl.DataFrame | None) -> pl.Expr:
    """Records some liability of some tier could pay on, judged on the record alone: a reversal,
    a positive settlement base (before claims and conditions, which only lower it), or a fee
    line a line liability could claim. Everything else pays nothing in any tier."""
    cats = compiled.catalogs
    out = pl.col("_rev")
    for tier in compiled.tiers:
        for x in tier.liabilities:
            if x.lines is None:
                could = E.to_polars(x.base, cats) > 0
                for cond in [*([x.when] if x.when is not None else []), *(r.when for r in x.requires)]:
                    if not cond.fields & (PERSON_NAMES.keys() | DERIVED):
                        could = could & E.to_polars(cond, cats)
                out = out | could
    line_conds = [E.to_polars(c, cats) for c in _line_conditions(compiled)]
    if line_conds and fee_lines is not None and fee_lines.height:
        hits = fee_lines.lazy().filter(pl.any_horizontal(*line_conds)).select("setl_id").unique().pipe(collect)
        out = out | pl.col("setl_id").is_in(hits["setl_id"].implode())
    return out


REQUIRED = ("setl_id", "psn_no", "setl_time", "begndate")
OPTIONAL: dict[str, pl.Expr] = {
    "refd_setl_flag": pl.lit("0"),
    "init_setl_id": pl.lit(None, pl.Utf8),
    "insutype": pl.lit(None, pl.Utf8),
    "insu_admdvs": pl.lit(None, pl.Utf8),
    "mdtrt_area_admvs": pl.lit(None, pl.Utf8),
    "fixmedins_code": pl.lit(None, pl.Utf8),
    "rx_fixmedins_code": pl.lit(None, pl.Utf8),
    "out_area_filed": pl.lit(False),
}
DERIVED = {"out_of_city", "out_of_province", "prescriber"}  # computed by ``place_columns`` after the join


def settlement_columns(*plans: Compiled) -> list[str]:
    """The settlement columns the engine reads under these plans: a reader may load only these."""
    read = {f for p in plans for f in p.fields}
    return [c for c in SETTLEMENT_SCHEMA if c in REQUIRED or c in OPTIONAL or c in read]


def _needed(compiled: Compiled, columns: list[str]) -> list[pl.Expr]:
    """The settlement columns the plan's rules read (the engine carries nothing else), with
    defaults for the optional ones."""
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise EngineError(f"结算记录缺少必需的列 {label(missing[0])}", record="结算记录", field=missing[0])
    read = compiled.fields
    keep = [pl.col(c) for c in columns if c in REQUIRED or c in OPTIONAL or c in read]
    return keep + [default.alias(c) for c, default in OPTIONAL.items() if c not in columns]


def _empty_settlements() -> pl.DataFrame:
    return pl.DataFrame(
        schema={"_row": pl.UInt32, "_active": pl.Boolean, "setl_id": pl.Utf8, "psn_no": pl.Utf8, "tier": pl.Utf8}
        | {"status": STATUS, "payout": pl.Int64}
    )


def _empty_lines(explain: bool) -> pl.DataFrame:
    return pl.DataFrame(
        schema={"_row": pl.UInt32, "setl_id": pl.Utf8, "psn_no": pl.Utf8, "liability": pl.Utf8, "_k": pl.UInt8}
        | dict.fromkeys(OUTCOMES, pl.Int64)
        | ({"reason": pl.Utf8} if explain else {})
    )


def _people(compiled: Compiled, insured: pl.DataFrame) -> pl.DataFrame:
    """The insured persons as the engine needs them: index, tier, coverage, and the attributes
    the plan's rules read (lists and age only when some rule reads them)."""
    cols = insured.columns
    if "psn_no" not in cols:
        raise EngineError(f"参保人缺少必需的列 {label('psn_no')}", record="参保人", field="psn_no")
    if not _distinct(insured["psn_no"]):
        dup = insured.filter(pl.col("psn_no").is_duplicated())["psn_no"][0]
        raise EngineError(f"参保人 {dup}：{label('psn_no')}重复出现", record=f"参保人 {dup}", field="psn_no")
    read = compiled.fields | {"tier"}
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
        (pl.col("insu_status").cast(pl.Utf8) if "insu_status" in cols else pl.lit(None, pl.Utf8)).alias("_insu_status"),
        (pl.col("insu_status_date") if "insu_status_date" in cols else pl.lit(None, pl.Date)).alias(
            "_insu_status_date"
        ),
        pl.lit(True).alias("_known"),
        pl.int_range(pl.len(), dtype=pl.UInt32).alias("_pidx"),
    )
    return frame.with_columns(tier_column(compiled).alias("_tier"))


def _distinct(ids: pl.Series) -> bool:
    """No id twice; ids in order (a roster usually is) by comparing neighbours: hashing 2 M person
    ids cost 0.3 s of CPU, six times the rest of preparing the persons."""
    if ids.is_sorted():
        return not (ids == ids.shift(1)).any()
    return ids.n_unique() == ids.len()


def _check_reversals(frame: pl.LazyFrame, prior_lines: pl.DataFrame | None) -> None:
    """Every reversal names an earlier settlement of the same person, here or adjudicated before.

    The few originals are found by a semi join on the reversals' ids: joining the reversals to every
    record instead built a hash table of the whole year's ids (1.6 s of CPU at 10 M records)."""
    earlier = prior_lines["setl_id"].unique().implode() if prior_lines is not None else pl.lit([], pl.List(pl.Utf8))
    revs = (
        frame.select("setl_id", "psn_no", "setl_time", "init_setl_id", "_rev")
        .filter(pl.col("_rev") & ~pl.col("init_setl_id").is_in(earlier))
        .pipe(collect)
        .lazy()
    )
    originals = frame.join(revs.select("init_setl_id"), left_on="setl_id", right_on="init_setl_id", how="semi").select(
        pl.col("setl_id").alias("init_setl_id"),
        pl.col("psn_no").alias("_opsn"),
        pl.col("setl_time").alias("_otime"),
        pl.col("setl_id").alias("_oid"),
    )
    bad = (
        revs.join(originals, on="init_setl_id", how="left")
        .filter(
            pl.col("_opsn").is_null()
            | (pl.col("_opsn") != pl.col("psn_no"))
            | (pl.col("_otime") > pl.col("setl_time"))
            | ((pl.col("_otime") == pl.col("setl_time")) & (pl.col("_oid") >= pl.col("setl_id")))
        )
        .pipe(collect)
    )
    if bad.height:
        row = bad.row(0, named=True)
        raise EngineError(
            f"结算 {row['setl_id']}：{label('init_setl_id')} {row['init_setl_id']} 不是此人更早的结算，无法退费冲回",
            record=f"结算 {row['setl_id']}",
            field="init_setl_id",
        )


def _run_tier(
    part: pl.DataFrame,
    fee_lines: pl.DataFrame | None,
    rules: TierRules,
    prior: pl.DataFrame | None,
    prior_lines: pl.DataFrame | None,
    all_lines: bool,
    explain: bool,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """One tier's records. Only records that count toward something (a counted amount or a reversal)
    touch the accumulators, so only those are sorted into person and time order and accumulated;
    the others pay nothing and change nothing."""
    df = bases(part, fee_lines, rules, explain)
    active = pl.col("_known").fill_null(False) & (
        pl.col("_rev") | pl.any_horizontal(*[pl.col(f"counted_{x.id}") != 0 for x in rules.liabilities])
    )
    why = reason_columns(rules) if explain else []
    keep = [
        "_row", "setl_id", "psn_no", "setl_time", "_tier", "_rev", "init_setl_id", "_status",
        *[f"{s}_{x.id}" for x in rules.liabilities for s in ("base", "counted", "ratio")],
        *[f"{DEDUCTIBLE}{p.key}" for p in rules.pools],
        *why,
    ]  # fmt: skip
    act = in_time_order(df.lazy().filter(active).select(*keep, "_pidx").pipe(collect))
    act = firsts(with_prior(act, rules, prior))
    parts = [accumulate(act, rules, reversals=False, explain=explain)]
    if act["_rev"].any():
        mask = pl.col("_p").is_in(act.filter(pl.col("_rev"))["_p"].unique().implode())
        first = parts[0]
        with_rev = originals(act.filter(mask), rules, prior_lines)
        # an original that counted toward nothing is not in ``act``: its reversal still shows its base and ratio
        wanted = with_rev["init_setl_id"].drop_nulls().implode()
        shown = (
            df.lazy()
            .filter(pl.col("setl_id").is_in(wanted))
            .select(
                pl.col("setl_id").alias("init_setl_id"),
                *[
                    pl.col(f"{s}_{x.id}").alias(f"{ORIGINAL}{s}_{x.id}")
                    for x in rules.liabilities
                    for s in ("base", "ratio")
                ],
            )
            .pipe(collect)
        )
        with_rev = with_rev.update(shown, on="init_setl_id")
        parts = [first.filter(~mask), settle_reversals(with_rev, first.filter(mask), rules, explain)]
    state = list(key_cols(rules).values())
    inactive = df.filter(~active)
    settled = pl.concat(
        [
            *[p.select("_row", pl.lit(True).alias("_active"), "setl_id", "psn_no", pl.col("_tier").alias("tier"), pl.col("_status").alias("status"), "payout", *state) for p in parts],
            inactive.select(
                "_row", pl.lit(False).alias("_active"), "setl_id", "psn_no", pl.col("_tier").alias("tier"),
                pl.col("_status").alias("status"), pl.lit(0, pl.Int64).alias("payout"),
                *[pl.lit(None, pl.Int64).alias(c) for c in state],
            ),
        ]
    )  # fmt: skip
    if all_lines or explain:
        zeros = [
            pl.lit(0, pl.Int64).alias(f"{s}_{x.id}")
            for x in rules.liabilities
            for s in ("deductible_used", "entitled", "payout")
        ] + [pl.lit(False).alias(f"{LIMITED}{x.id}") for x in rules.liabilities]
        zeros += [pl.lit(0, pl.Int64).alias(f"{STATE}d_{p.key}") for p in rules.pools]
        parts.append(inactive.with_columns(zeros))
    if not all_lines:
        shown_stats = ("base", "counted", "entitled") if explain else ("counted", "entitled")
        amount = pl.any_horizontal(*[pl.col(f"{s}_{x.id}") != 0 for x in rules.liabilities for s in shown_stats])
        parts = [p.filter(amount) for p in parts]
    parts = [p for p in parts if p.height] or parts[:1]  # an empty frame still gives the lines' schema
    if explain:  # every liability's reason in one pass over each part: the cost is per pass, not per row
        parts = [p.with_columns(line_reason(x).alias(f"{REASON}{x.id}") for x in rules.liabilities) for p in parts]
    lines = pl.concat(
        [
            p.select(
                "_row",
                "setl_id",
                "psn_no",
                pl.lit(x.id).alias("liability"),
                pl.lit(k, pl.UInt8).alias("_k"),
                *[pl.col(f"{s}_{x.id}").alias(s) for s in OUTCOMES],
                *([pl.col(f"{REASON}{x.id}").alias("reason")] if explain else []),
            )
            for p in parts
            for k, x in enumerate(rules.liabilities)
        ]
    )
    return settled, lines
