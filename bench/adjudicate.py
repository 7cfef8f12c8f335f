"""Benchmark: the adjudication engine on a synthetic city, against the reference loop in the same run.

    .venv/bin/python bench/adjudicate.py                 # 10 M records, 2 M persons (with fee lines)
    .venv/bin/python bench/adjudicate.py --records 1000000 --persons 200000

Prints records/s for the engine, the ratio to the pure-Python reference adjudicator on a
sample of persons (the same persons through both, payouts compared to the fen), the
end-to-end time of a 1 M-record city-year from Parquet (read, check, adjudicate, write),
and peak RSS. Absolute times move with the machine; the ratio is the stable figure.
"""

from __future__ import annotations

import argparse
import gc
import resource
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

from huiminbao.engine.adjudicate import adjudicate
from huiminbao.engine.reference import adjudicate_reference
from huiminbao.plans import compiled_plan
from huiminbao.settlement.io import read_fee_lines, read_insured, read_settlements, write_frame
from huiminbao.synth import generate_city, write_city


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def sample_persons(settlements: pl.DataFrame, records: int) -> pl.Series:
    counts = settlements.group_by("psn_no").len().sort("psn_no")
    counts = counts.with_columns(pl.col("len").cum_sum().alias("upto"))
    return counts.filter(pl.col("upto") <= records)["psn_no"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--plan", default="liaocheng-2024")
    ap.add_argument("--persons", type=int, default=2_000_000)
    ap.add_argument("--records", type=int, default=10_000_000)
    ap.add_argument("--sample", type=int, default=20_000, help="records through the reference loop")
    ap.add_argument("--city-records", type=int, default=1_000_000, help="records in the end-to-end Parquet run")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    compiled = compiled_plan(args.plan)

    print(f"plan {args.plan}: generating {args.records:,} records for {args.persons:,} persons ...", flush=True)
    city, t_gen = timed(
        generate_city, args.plan, args.persons, seed=args.seed, records_per_person=args.records / args.persons
    )
    s, p, fl = city.settlements, city.roster, city.fee_lines
    print(f"  generated {s.height:,} settlements, {0 if fl is None else fl.height:,} fee lines in {t_gen:.1f} s")
    gc.collect()
    rss_before = peak_rss_mb()

    # engine on the whole year (best of 2: the first run also warms Polars' thread pool)
    runs = []
    for _ in range(2):
        result, t = timed(adjudicate, compiled, s, p, fl, all_lines=False)
        runs.append(t)
        paid = int(result.settlements["payout"].sum())
        del result
        gc.collect()
    t_engine = min(runs)
    rate = s.height / t_engine
    print(
        f"engine:    {s.height:,} records in {t_engine:.2f} s = {rate / 1e6:.2f} M records/s (runs: {', '.join(f'{x:.2f}' for x in runs)})"
    )
    print(
        f"           total payout {paid / 100:,.2f} yuan; peak RSS {peak_rss_mb():,.0f} MB (after generation {rss_before:,.0f} MB)"
    )

    # the same persons through the reference loop and the engine
    who = sample_persons(s, args.sample)
    ss = s.filter(pl.col("psn_no").is_in(who.implode()))
    sp = p.filter(pl.col("psn_no").is_in(who.implode()))
    sfl = None if fl is None else fl.filter(pl.col("setl_id").is_in(ss["setl_id"].implode()))
    (ref, _, _), t_ref = timed(adjudicate_reference, compiled, ss, sp, sfl)
    eng, t_eng_sample = timed(adjudicate, compiled, ss, sp, sfl)
    same = (
        eng.settlements.sort("setl_id")
        .select("setl_id", "payout")
        .equals(ref.sort("setl_id").select("setl_id", "payout"))
    )
    ref_rate = ss.height / t_ref
    print(
        f"reference: {ss.height:,} records in {t_ref:.2f} s = {ref_rate / 1e3:.1f} k records/s; engine on the same sample {t_eng_sample:.3f} s"
    )
    print(f"           payouts identical to the fen: {same}")
    print(f"ratio:     engine (whole year) / reference = {rate / ref_rate:,.0f}x")

    # a city-year from Parquet, end to end
    n_city = min(args.city_records, s.height)
    city_people = sample_persons(s, n_city)
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        sub = type(city)(
            roster=p.filter(pl.col("psn_no").is_in(city_people.implode())),
            settlements=s.filter(pl.col("psn_no").is_in(city_people.implode())),
            fee_lines=None
            if fl is None
            else fl.filter(
                pl.col("setl_id").is_in(s.filter(pl.col("psn_no").is_in(city_people.implode()))["setl_id"].implode())
            ),
            institutions=city.institutions,
            manifest=city.manifest,
        )
        write_city(sub, d, "parquet")
        start = time.perf_counter()
        st = read_settlements(d / "settlements.parquet")
        lines = read_fee_lines(d / "fee_lines.parquet") if (d / "fee_lines.parquet").exists() else None
        people = read_insured(d / "roster.parquet")
        t_read = time.perf_counter() - start
        res = adjudicate(compiled, st, people, lines, all_lines=False)
        write_frame(res.settlements, d / "payouts.parquet")
        t_total = time.perf_counter() - start
    print(f"city-year: {st.height:,} records from Parquet: read+check {t_read:.2f} s, end to end {t_total:.2f} s")
    print(f"peak RSS:  {peak_rss_mb():,.0f} MB")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
