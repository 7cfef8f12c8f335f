"""Benchmark: a city-year on Spark local mode beside the Polars engine in this process.

    .venv/bin/python bench/spark.py                                  # 200 k and 1 M records
    .venv/bin/python bench/spark.py --records 20000 --master local[2]

For each size, the cached synthetic city of bench/adjudicate.py (Parquet under var/bench/, five
records a person) is adjudicated twice, end to end from Parquet to Parquet: as ``hmb adjudicate``
does it (read and check, the engine, write) and by ``huiminbao.scale.spark.run`` on one local Spark
session (started once; its start-up and a first warm-up job are printed apart: a cluster pays them
once per job, not per record). Prints
both times, their ratio and whether every settlement's payout is identical to the fen.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import polars as pl
from adjudicate import city  # the same cached synthetic city as bench/adjudicate.py

from huiminbao.engine.adjudicate import adjudicate, claimable_lines, settlement_columns
from huiminbao.plans import compiled_plan
from huiminbao.scale.spark import local_session, run
from huiminbao.settlement.io import read_fee_lines, read_insured, read_settlements, write_frame, yuan_text

FILES = {"settlements": "settlements", "insured": "roster", "fee_lines": "fee_lines"}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--plan", default="liaocheng-2024")
    ap.add_argument("--records", type=int, nargs="+", default=[200_000, 1_000_000])
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--memory", default="2g", help="Spark driver memory (local mode runs in the driver)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--warm-up", type=int, default=20_000, help="records of a first, untimed-for-the-ratio job")
    args = ap.parse_args()
    compiled = compiled_plan(args.plan)
    started = time.perf_counter()
    spark = local_session(args.master, args.memory)
    print(f"spark:      {args.master} session started in {time.perf_counter() - started:.1f} s")
    folder = city(args.plan, args.warm_up // 5, args.warm_up, args.seed)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        paths = {k: str(folder / f"{f}.parquet") for k, f in FILES.items()}
        run(spark, compiled, **paths, out=str(Path(tmp) / "spark"), allow_outside=True)
    print(f"warm-up:    a first job of {args.warm_up:,} records in {time.perf_counter() - started:.1f} s "
          "(the JVM compiling, Python workers importing polars and the engine)")  # fmt: skip
    same = True
    for records in args.records:
        folder = city(args.plan, records // 5, records, args.seed)
        paths = {k: str(folder / f"{f}.parquet") for k, f in FILES.items()}
        with tempfile.TemporaryDirectory() as tmp:
            started = time.perf_counter()
            s = read_settlements(folder / "settlements.parquet", settlement_columns(compiled))
            lines = read_fee_lines(folder / "fee_lines.parquet", claimable_lines(compiled))
            result = adjudicate(compiled, s, read_insured(folder / "roster.parquet"), lines, all_lines=False)
            write_frame(result.settlements.with_columns(yuan_text("payout")), Path(tmp) / "polars.parquet")
            t_polars = time.perf_counter() - started
            started = time.perf_counter()
            # allow_outside: as the Polars run beside it, which refuses nothing
            done = run(spark, compiled, **paths, out=str(Path(tmp) / "spark"), allow_outside=True)
            t_spark = time.perf_counter() - started
            mine = pl.read_parquet(Path(tmp) / "spark" / "*.parquet").select("setl_id", "payout").sort("setl_id")
            theirs = pl.read_parquet(Path(tmp) / "polars.parquet").select("setl_id", "payout").sort("setl_id")
            equal = mine.equals(theirs)
            same = same and equal
        print(
            f"{records:>10,} records: polars {t_polars:6.2f} s ({records / t_polars / 1e3:,.0f} k/s) | "
            f"spark {t_spark:6.2f} s ({records / t_spark / 1e3:,.1f} k/s) | spark/polars {t_spark / t_polars:.1f}x | "
            f"{done.paid:,} paid, identical to the fen: {equal}",
            flush=True,
        )
    spark.stop()
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
