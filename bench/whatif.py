"""Benchmark: what-if pricing of a candidate plan on a synthetic city-year, against one adjudication run.

    .venv/bin/python bench/whatif.py                    # about 1 M settlements, 200,000 persons, fee lines
    .venv/bin/python bench/whatif.py --records 20000    # a quick check

The city is generated once by ``hmb synth`` in a child process and cached as Parquet under var/bench/
(the same cache as bench/adjudicate.py). The candidate is the base plan with the in-scope inpatient
deductible lowered by 1,000 yuan and its ratio set to 70 %. Timed in this process: what ``hmb whatif``
does (read and check the year once, with the columns and fee lines either plan needs, then both engine
runs and the comparison); the same comparison again on the frames already in memory (what the page and
the API do while nothing new is stored); the same what-if in ``--partitions`` parts of persons (the path
``hmb whatif`` takes for a year larger than memory, split included); and what ``hmb adjudicate`` does for one plan (read, adjudicate,
write the payouts). Prints the times, the ratio of what-if to one adjudication, and peak RSS.
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import time
from pathlib import Path

import yaml
from adjudicate import city, peak_rss_mb  # the same cached synthetic city as bench/adjudicate.py

from huiminbao.engine.adjudicate import adjudicate, claimable_lines, settlement_columns
from huiminbao.plans import compiled_plan
from huiminbao.plans.loader import plan_files
from huiminbao.scale.partition import Inputs
from huiminbao.scale.years import read_year, year_parts
from huiminbao.settlement.io import read_fee_lines, read_insured, read_settlements, write_frame
from huiminbao.supervision.whatif import compare, load_candidate


def candidate_file(plan: str, folder: Path) -> Path:
    """The base plan with its first liability's deductible 1,000 yuan lower and its ratio 70 %."""
    doc = yaml.safe_load(plan_files()[plan].read_text(encoding="utf-8"))
    doc["id"] = f"{plan}-candidate"
    first = doc["tiers"][0]["liabilities"][0]
    if isinstance(first.get("deductible"), int):
        first["deductible"] -= 1000
    first["ratio"] = "70%"
    path = folder / "candidate.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--plan", default="liaocheng-2024")
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--persons", type=int, default=0, help="default: one per 5 records")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--partitions", type=int, default=4, help="the same what-if by parts of persons")
    args = ap.parse_args()
    persons = args.persons or max(args.records // 5, 100)
    folder = city(args.plan, persons, args.records, args.seed)
    base = compiled_plan(args.plan)
    settlements, fee_lines, insured = (folder / f"{n}.parquet" for n in ("settlements", "fee_lines", "roster"))

    with tempfile.TemporaryDirectory() as tmp:
        cand = load_candidate(candidate_file(args.plan, Path(tmp)))
        gc.collect()
        started = time.perf_counter()
        year = read_year([base, cand], Inputs(settlements, insured, fee_lines))
        t_read = time.perf_counter() - started
        result = compare(base, cand, year)
        t_whatif = time.perf_counter() - started
        started = time.perf_counter()
        again = compare(base, cand, year)
        t_cached = time.perf_counter() - started
        assert again.to_json() == result.to_json()
        del year
        gc.collect()
        started = time.perf_counter()
        parts = year_parts([base, cand], Inputs(settlements, insured, fee_lines), args.partitions, scratch=Path(tmp))
        in_parts = compare(base, cand, parts)
        t_parts = time.perf_counter() - started
        assert in_parts.to_json() == result.to_json()
        gc.collect()

        started = time.perf_counter()
        s = read_settlements(settlements, settlement_columns(base))
        fl = read_fee_lines(fee_lines, claimable_lines(base))
        p = read_insured(insured)
        one = adjudicate(base, s, p, fl, all_lines=False)
        write_frame(one.settlements, Path(tmp) / "payouts.parquet")
        t_one = time.perf_counter() - started
        same = int(one.settlements["payout"].sum()) == result.base.total
    b, c = result.base, result.candidate
    print(f"year:       {result.settlements:,} settlements, {result.persons:,} insured, plan {args.plan}")
    print(f"whatif:     read+check once {t_read:.2f} s, two engine runs and the comparison {t_whatif - t_read:.2f} s, "
          f"total {t_whatif:.2f} s")  # fmt: skip
    print(f"in parts:   --partitions {args.partitions} (split, then part by part) {t_parts:.2f} s = "
          f"{t_parts / t_whatif:.2f}x the whole year; the same figures to the fen")  # fmt: skip
    print(f"in memory:  the comparison again on the kept frames (page, API) {t_cached:.2f} s")
    print(f"adjudicate: one `hmb adjudicate` run (read, adjudicate, write) {t_one:.2f} s")
    print(
        f"ratio:      whatif / adjudicate = {t_whatif / t_one:.2f}x; in memory / adjudicate = {t_cached / t_one:.2f}x"
    )
    print(f"payout:     base {b.total / 100:,.2f} yuan, candidate {c.total / 100:,.2f} yuan; "
          f"base equals the single run: {same}")  # fmt: skip
    print(f"peak RSS:   {peak_rss_mb():,.0f} MB")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
