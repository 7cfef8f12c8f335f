"""Benchmark: ``hmb year-end`` over a plan-year of stored settlements, in memory and in parts of persons.

    .venv/bin/python bench/yearend.py                          # 200,000 stored settlements, 40,000 persons
    .venv/bin/python bench/yearend.py --records 5000 --partitions 2

The synthetic city is the cached one of bench/adjudicate.py (``hmb synth``, Parquet under var/bench/). It is
stored in a throwaway SQLite database as the platform holds a year: the roster imported, everyone given a
policy, each settlement kept with its record (JSON, fee lines included) and its liability lines, which are
the batch engine's payouts with every 5th settlement that pays paid 10 % short (what real time paid for stays that
arrived out of order), so that year-end has adjustments to write. Then, each on a fresh copy of that
database, as ``hmb year-end`` processes (an operator's run; peak RSS is the child's own, from ``wait4``):

- baseline: the whole year in memory (the automatic choice at this size);
- partitioned: ``--partitions N`` (default 4): the same year by parts of persons.

Prints time end to end (reading the records out of the database, the engine, writing adjustments and
accumulators), stored settlements/s and peak RSS of each, the ratio partitioned / in memory, and whether
both wrote the same adjustments to the fen.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import date, datetime
from pathlib import Path

import polars as pl
import sqlalchemy as sa
from adjudicate import ROOT, city, read  # the same cached synthetic city as bench/adjudicate.py
from loadgen import ENV

os.environ.update(ENV)  # the roster is encrypted with the keys the child processes read
os.environ.setdefault("HMB_ACTUARIAL_KEY", "0123456789abcdef0123456789abcdef")

from huiminbao.cli.roster import import_file
from huiminbao.db import Database, migrate
from huiminbao.engine.adjudicate import adjudicate
from huiminbao.enrollment.bulk import enroll_share
from huiminbao.enrollment.models import InsuredPerson, Policy
from huiminbao.flows.settle_file import bodies
from huiminbao.identity import audit
from huiminbao.plans import Compiled, compiled_plan
from huiminbao.settings import sqlite_url
from huiminbao.settlement.models import Settlement, SettlementKind, SettlementLine, SettlementSource
from huiminbao.settlement.onestop import insured_frame

SHORT_EVERY = 5  # every so many settlements with a payout was paid short in real time
CHUNK = 10_000  # rows an insert


def store(path: Path, folder: Path, compiled: Compiled, seed: int) -> int:
    """The city as a stored plan-year in a new SQLite database at ``path``; returns the settlements kept."""
    url = sqlite_url(path)
    migrate.upgrade(url)
    db = Database.from_url(url)
    import_file(db, folder / "roster.parquet")
    day = compiled.plan.enrollment.window.end
    with db.session() as s:
        enroll_share(session=s, actor=audit.CLI, compiled=compiled, share=1.0, day=day, seed=seed)
    with db.session() as s:
        held = s.execute(
            sa.select(InsuredPerson, Policy)
            .join(Policy, Policy.person_id == InsuredPerson.id)
            .where(Policy.plan_id == compiled.plan.id)
        ).all()
        people = insured_frame([(p, q) for p, q in held])
        ids = {p.psn_no: (p.id, q.id, q.tier) for p, q in held}
    setl, _, lines = read(folder, compiled)
    setl = setl.filter(pl.col("psn_no").is_in(list(ids)))
    batch = adjudicate(compiled, setl, people, lines)
    kept = [b for _, b in bodies(folder / "settlements.parquet", folder / "fee_lines.parquet")]
    kept = [b for b in kept if b["setlinfo"]["psn_no"] in ids]
    number = pl.DataFrame(
        {"setl_id": [b["setlinfo"]["setl_id"] for b in kept], "settlement_id": range(1, len(kept) + 1)}
    )
    outcome = batch.lines.join(number, on="setl_id")
    paying = outcome.group_by("settlement_id").agg(pl.col("payout").sum()).filter(pl.col("payout") > 0)
    short = pl.col("settlement_id").is_in(paying["settlement_id"].sort().gather_every(SHORT_EVERY).implode())
    paid = outcome.with_columns(
        pl.when(short).then(pl.col("payout") - pl.col("payout") // 10).otherwise("payout").alias("payout")
    ).select("settlement_id", "liability", "base", "counted", "deductible_used", "ratio", "entitled", "payout")
    payout = dict(paid.group_by("settlement_id").agg(pl.col("payout").sum()).iter_rows())
    status = dict(batch.settlements.select("setl_id", "status").iter_rows())
    rows = []
    for k, b in enumerate(kept, start=1):
        info = b["setlinfo"]
        person_id, policy_id, tier = ids[info["psn_no"]]
        record = json.dumps(b, ensure_ascii=False)
        rows.append({
            "id": k, "setl_id": info["setl_id"], "hospital_code": info.get("fixmedins_code", ""),
            "person_id": person_id, "plan_id": compiled.plan.id, "policy_id": policy_id, "tier": tier,
            "kind": SettlementKind.REFUND if info.get("refd_setl_flag") == "1" else SettlementKind.PAYMENT,
            "source": SettlementSource.FILE, "setl_time": datetime.fromisoformat(info["setl_time"]),
            "begndate": date.fromisoformat(info["begndate"]), "init_setl_id": info.get("init_setl_id"),
            "status": status.get(info["setl_id"], "covered"), "payout_fen": payout.get(k, 0),
            "body_sha256": hashlib.sha256(record.encode()).hexdigest(), "record": record, "response": "{}",
        })  # fmt: skip
    with db.session() as s:
        for i in range(0, len(rows), CHUNK):
            s.execute(sa.insert(Settlement), rows[i : i + CHUNK])
        for chunk in paid.iter_slices(CHUNK):
            s.execute(sa.insert(SettlementLine), chunk.to_dicts())
    db.dispose()
    return len(rows)


def year_end(db: Path, plan: str, extra: list[str]) -> tuple[float, float, dict]:
    """``hmb year-end --json`` as a child process on ``db``: (seconds, peak RSS in MB, its JSON)."""
    env = {**os.environ, "HMB_DATABASE_URL": sqlite_url(db)}
    started = time.perf_counter()
    with tempfile.TemporaryFile() as out:
        args = [sys.executable, "-m", "huiminbao.cli.main", "year-end", "--plan", plan, "--json", *extra]
        child = subprocess.Popen(args, env=env, stdout=out)
        _, status, usage = os.wait4(child.pid, 0)  # reaped by wait4 itself, for the child's own rusage
        child.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - started
        if child.returncode != 0:
            raise SystemExit(f"hmb year-end {' '.join(extra)} exited {child.returncode}")
        out.seek(0)
        return seconds, usage.ru_maxrss / 1024, json.loads(out.read())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--plan", default="liaocheng-2024")
    ap.add_argument("--records", type=int, default=200_000)
    ap.add_argument("--persons", type=int, help="default: a fifth of --records, as bench/adjudicate.py")
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    compiled = compiled_plan(args.plan)
    folder = city(args.plan, args.persons or args.records // 5, args.records, args.seed)
    (ROOT / "var" / "bench").mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=ROOT / "var" / "bench") as tmp:
        template = Path(tmp) / "year.db"
        started = time.perf_counter()
        # in a child of its own: a child's peak RSS (wait4) starts from its parent's high-water mark at exec,
        # so the 2 GB storing takes would be reported as every year-end run's peak
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            n = pool.submit(store, template, folder, compiled, args.seed).result()
        print(f"stored {n:,} settlements in SQLite in {time.perf_counter() - started:.0f} s")
        runs = {}
        for name, extra in (("in memory", []), (f"{args.partitions} parts", ["--partitions", str(args.partitions)])):
            db = Path(tmp) / "run.db"
            shutil.copyfile(template, db)
            runs[name] = year_end(db, args.plan, extra)
            seconds, peak, doc = runs[name]
            print(
                f"{name:>10}: {n:,} settlements ({doc['persons']:,} persons, {doc['adjustments']:,} adjustments) "
                f"in {seconds:.1f} s = {n / seconds:,.0f} settlements/s; peak RSS {peak:,.0f} MB"
            )
        (s1, p1, whole), (s2, p2, parted) = runs.values()
        same = whole == parted
        print(f"     ratio: partitioned / in memory: time {s2 / s1:.2f}x, peak RSS {p2 / p1:.2f}x")
        print(f"      same: adjustments and summary to the fen: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
