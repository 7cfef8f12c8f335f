"""Benchmark: importing the bureau's roster (``hmb roster import``) on SQLite and on PostgreSQL.

    .venv/bin/python bench/roster.py                   # 1 M rows, both databases
    .venv/bin/python bench/roster.py --rows 200000 --db sqlite

Writes a synthetic city's roster as the bureau's CSV once (cached under var/bench/), then for each
database: a first import into an empty, migrated database (every row checked, hashed, encrypted,
COPY/executemany into a staging table, one set-based upsert), and a re-import of the same file (nothing
changes, nothing is written). PostgreSQL is a throwaway cluster started here with fsync on and
max_wal_size=4GB (a bulk-loading server's setting: the default 1 GB checkpoints mid-import). The baseline,
run in the same process, is reading and checking the file alone (no database, no cryptography): the
ratios say what the database and the cryptography add on top of parsing. Prints rows/s and peak RSS.
"""

from __future__ import annotations

import argparse
import resource
import time
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl

from huiminbao.db import Database, migrate
from huiminbao.db.pgcluster import temporary_cluster
from huiminbao.enrollment.roster import check, read_table
from huiminbao.enrollment.roster_store import ImportResult, Keys, import_roster
from huiminbao.identity import audit
from huiminbao.synth.city import GENERATOR_VERSION
from huiminbao.synth.profile import city_profile
from huiminbao.synth.roster import make_roster

ROOT = Path(__file__).resolve().parents[1]
KEYS = Keys(encrypt=bytes.fromhex("00112233445566778899aabbccddeeff"), hash=bytes.fromhex("11" * 16))


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def roster_file(plan: str, rows: int) -> Path:
    path = ROOT / "var" / "bench" / f"roster-{plan}-{rows}-g{GENERATOR_VERSION}.csv"
    if not path.exists():
        print(f"writing a {rows:,}-row roster to {path} ...", flush=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        roster, _ = make_roster(city_profile(plan), rows, np.random.default_rng(1))
        roster.select(
            "psn_no", "certno", "psn_name", "gend", pl.col("birth_date").alias("brdy"), "insutype", "insu_admdvs",
            "psn_insu_stas", "psn_insu_date", pl.col("populations").list.join(";"),
        ).write_csv(path)  # fmt: skip
    return path


def timed_import(url: str, path: Path) -> tuple[float, ImportResult]:
    db = Database.from_url(url)
    try:
        started = time.perf_counter()
        with db.session() as session:
            result = import_roster(session=session, path=path, keys=KEYS, actor=audit.CLI, today=date.today())
        return time.perf_counter() - started, result
    finally:
        db.dispose()


def measure(name: str, url: str, path: Path, baseline: float) -> None:
    migrate.upgrade(url)
    first, result = timed_import(url, path)
    assert result.inserted == result.rows - result.rejected, result.summary()
    again, second = timed_import(url, path)
    assert second.unchanged == result.inserted and second.inserted == second.updated == 0, second.summary()
    n = result.rows
    print(
        f"{name:<10} first import {first:6.1f} s  {n / first:10,.0f} rows/s  ({first / baseline:4.1f}x read+check)"
        f"   re-import {again:6.1f} s  {n / again:10,.0f} rows/s  ({again / baseline:4.1f}x)",
        flush=True,
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--plan", default="liaocheng-2024")
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    args = ap.parse_args()
    path = roster_file(args.plan, args.rows)
    started = time.perf_counter()
    checked = check(read_table(path), today=date.today())
    baseline = time.perf_counter() - started
    print(f"{args.rows:,} rows; read+check (baseline) {baseline:.2f} s, {checked.rows / baseline:,.0f} rows/s")
    del checked
    if args.db in ("sqlite", "both"):
        db_path = ROOT / "var" / "bench" / "roster-bench.db"
        for p in db_path.parent.glob(db_path.name + "*"):
            p.unlink()
        measure("SQLite", f"sqlite:///{db_path}", path, baseline)
    if args.db in ("postgres", "both"):
        with temporary_cluster(durable=True, settings={"max_wal_size": "4GB"}) as url:
            measure("PostgreSQL", url, path, baseline)
    print(f"peak RSS {peak_rss_mb():,.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
