"""Benchmark: a year larger than memory, ``hmb adjudicate --memory-limit`` part by part of persons.

    .venv/bin/python bench/partition.py                                     # 50 M records, 10 M persons, 12GB
    .venv/bin/python bench/partition.py --records 2000000 --memory-limit 1GB --kill-after 1

The city is generated once by ``hmb synth`` in a child process and cached as Parquet under var/bench/
(the cache of bench/adjudicate.py). ``hmb adjudicate`` runs as a child process of its own, as an operator
runs it, and its peak RSS is that child's (``wait4``'s rusage: the child and its threads), so generating
the city never counts. Prints the partitioned run's time end to end (check, split, adjudicate, write),
records/s, the parts and peak RSS; the in-memory run of the same year beside it when the year fits in
this machine's available memory (payouts compared to the fen); with ``--kill-after K``, the partitioned
run killed (SIGKILL) once its manifest shows K finished parts and run again: it resumes after them and
must end with the same payouts as the uninterrupted run.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import polars as pl
import psutil
from adjudicate import city  # the same cached synthetic city as bench/adjudicate.py

from huiminbao.scale.partition import MANIFEST, Inputs, estimate, parse_size, part_count


def finished(folder: Path) -> int:
    """Parts a run in ``folder`` has recorded as finished so far."""
    try:
        return len(json.loads((folder / MANIFEST).read_text(encoding="utf-8"))["finished"])
    except (OSError, ValueError):
        return 0


def hmb(args: list[str], kill: Callable[[], bool] | None = None) -> tuple[float, float, int]:
    """Run ``hmb`` as a child: (seconds, peak RSS in MB, exit status); killed (SIGKILL) once ``kill()`` says so."""
    started = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-m", "huiminbao.cli.main", *args])
    while True:  # reaped by wait4 itself, for the child's own rusage
        pid, status, usage = os.wait4(child.pid, 0 if kill is None else os.WNOHANG)
        if pid:
            break
        if kill is not None and kill():
            child.send_signal(signal.SIGKILL)
            kill = None
        else:
            time.sleep(0.05)
    child.returncode = os.waitstatus_to_exitcode(status)  # so Popen never waits for it again
    return time.perf_counter() - started, usage.ru_maxrss / 1024, child.returncode


def total(folder: Path) -> tuple[int, pl.DataFrame]:
    """Records and payouts by setl_id of a partitioned output folder."""
    df = pl.read_parquet(folder / "part-*.parquet", columns=["setl_id", "payout"]).sort("setl_id")
    return df.height, df


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--plan", default="liaocheng-2024")
    ap.add_argument("--records", type=int, default=50_000_000)
    ap.add_argument("--persons", type=int, help="default: a fifth of --records, as bench/adjudicate.py")
    ap.add_argument("--memory-limit", default="12GB")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument(
        "--kill-after", type=int, help="also kill a run once it has finished this many parts, and resume it"
    )
    args = ap.parse_args()
    folder = city(args.plan, args.persons or args.records // 5, args.records, args.seed)
    inputs = Inputs(folder / "settlements.parquet", folder / "roster.parquet", folder / "fee_lines.parquet")
    needed = estimate(inputs)
    parts = part_count(needed, parse_size(args.memory_limit), None)
    common = ["adjudicate", "--plan", args.plan, "--settlements", str(inputs.settlements),
              "--insured", str(inputs.insured), "--fee-lines", str(inputs.fee_lines)]  # fmt: skip
    ok = True
    with tempfile.TemporaryDirectory(dir=folder.parent) as tmp:
        out = Path(tmp) / "parts"
        seconds, peak, code = hmb([*common, "--out", str(out), "--memory-limit", args.memory_limit])
        records, paid = total(out)
        rate = records / seconds
        print(f"partitioned: {records:,} records in {parts} parts (--memory-limit {args.memory_limit}; "
              f"in-memory estimate {needed / 2**30:.1f} GB) end to end in {seconds:.1f} s = "
              f"{rate / 1e6:.2f} M records/s; peak RSS {peak:,.0f} MB; exit {code}")  # fmt: skip
        ok &= code == 0
        if needed < psutil.virtual_memory().available * 0.8:
            whole = Path(tmp) / "whole.parquet"
            s1, peak1, code1 = hmb([*common, "--out", str(whole)])
            same = pl.read_parquet(whole, columns=["setl_id", "payout"]).sort("setl_id").equals(paid)
            print(f"in memory:   {records:,} records end to end in {s1:.1f} s = {records / s1 / 1e6:.2f} M records/s; "
                  f"peak RSS {peak1:,.0f} MB; exit {code1}; same payouts to the fen: {same}")  # fmt: skip
            print(f"ratio:       partitioned / in memory: time {seconds / s1:.2f}x, peak RSS {peak / peak1:.2f}x")
            ok &= code1 == 0 and same
        else:
            print(f"in memory:   skipped (estimated {needed / 2**30:.1f} GB, more than this machine has available)")
        if args.kill_after is not None:
            again = Path(tmp) / "again"
            limit = ["--memory-limit", args.memory_limit]
            s2, _, code2 = hmb([*common, "--out", str(again), *limit], lambda: finished(again) >= args.kill_after)
            done = finished(again)
            s3, peak3, code3 = hmb([*common, "--out", str(again), *limit])
            same = total(again)[1].equals(paid)
            print(f"resume:      killed after {s2:.1f} s (exit {code2}) with {done} of {parts} parts finished; "
                  f"rerun finished in {s3:.1f} s (exit {code3}, peak {peak3:,.0f} MB); same payouts: {same}")  # fmt: skip
            ok &= code3 == 0 and same
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
