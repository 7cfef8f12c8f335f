"""A year on Spark: the same Polars engine, run on each person-hash bucket through Arrow.

A person's year is independent of every other person's (accumulators, deductibles and limits are per
person), so a year splits by person without changing a fen: each settlement, fee line and insured row
gets the bucket ``pmod(xxhash64(psn_no), buckets)`` of its person, and each bucket runs through
``engine.adjudicate`` exactly as ``hmb adjudicate`` runs the whole year.

Why one tagged table and ``groupBy(bucket).applyInArrow``: the engine needs a person's settlements,
fee lines and insured row together, and Spark 4 cogroups only two frames. So the three are packed as
struct columns ``s``, ``l``, ``p`` of one union (a row fills one of them) and grouped by bucket; Spark
hash-partitions by the bucket and sorts within partitions by it, and the Python worker gets one bucket
as one Arrow table, unpacked into the three Polars frames. Fee lines carry no ``psn_no``: they take
their settlement's bucket through a join on ``setl_id``, after a ``mapInArrow`` pass has checked them
and kept only the lines the plan could claim (as ``read_fee_lines`` does), so the shuffle carries the
few lines that matter, in fen. Settlements and insured persons are checked inside the bucket by the
same reader as the Polars path; the first bad record stops the job with the reader's message.

The compiled plan is shipped pickled in the task closure (about 16 kB), so executors need the package
but no plans folder. Paths are any Hadoop URI (``hdfs://``, ``s3a://``, local). Run it with
``hmb adjudicate --engine spark`` (local mode) or ``spark-submit .../huiminbao/scale/spark.py`` (a
cluster; ``main`` below; the README has worked commands for YARN and Kubernetes).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.pandas.types import to_arrow_schema
from pyspark.sql.types import BooleanType, DataType, DateType, LongType, StringType, StructField, StructType

from huiminbao.engine.adjudicate import adjudicate, claimable_lines, settlement_columns
from huiminbao.engine.prepare import EngineError
from huiminbao.engine.reasons import outside_plan
from huiminbao.money import to_yuan
from huiminbao.plans import Compiled, PlanError, PlanIncomplete, compiled_plan
from huiminbao.settlement.io import yuan_text
from huiminbao.settlement.reader import RecordError, check_fee_lines, check_persons, check_settlements
from huiminbao.vocabulary import FEE_LINE_SCHEMA, label

BUCKET = "_bucket"
PAYOUTS = StructType([StructField(c, StringType()) for c in ("setl_id", "psn_no", "tier", "status", "payout")])
UNREAD = ("certno", "psn_name")  # never loaded: the engine needs no identity (as ``read_insured``)
MARK = "HMB-REFUSED:"  # carries a refusal's one-line message through Spark's exception text
ARROW_BATCH = 200_000  # rows per Arrow batch: the checks cost a few ms per batch, not per row
# Settlements per bucket by default: Spark's cost per record grows with the bucket (1 M records on
# local[2]: 124 s in 8 buckets, 49 s in 32), while the engine's per-bucket cost is a few ms.
BUCKET_RECORDS = 32_000


class Refused(ValueError):
    """A record or batch the engine refuses; the message names the record and field, in Chinese."""


@dataclass(frozen=True)
class Summary:
    """What the run paid, per status: {status: (settlements, settlements paid, total fen)}."""

    statuses: dict[str, tuple[int, int, int]]

    @property
    def records(self) -> int:
        return sum(n for n, _, _ in self.statuses.values())

    @property
    def paid(self) -> int:
        return sum(p for _, p, _ in self.statuses.values())

    @property
    def total(self) -> int:
        return sum(t for _, _, t in self.statuses.values())


_SPARK: dict[type[pl.DataType], DataType] = {
    pl.Utf8: StringType(),
    pl.Int64: LongType(),
    pl.Date: DateType(),
    pl.Boolean: BooleanType(),
}


def _struct(schema: dict[str, pl.DataType]) -> StructType:
    """The Spark schema of a frame of the engine's plain types."""
    return StructType([StructField(name, _SPARK[type(dtype)]) for name, dtype in schema.items()])


@contextmanager
def _marked() -> Iterator[None]:
    """On an executor: a refusal becomes one marked line that the driver finds in Spark's error."""
    try:
        yield
    except (RecordError, EngineError, PlanIncomplete, PlanError, Refused) as exc:
        raise RuntimeError(f"{MARK}{exc}") from None


# What Polars' ``strip_chars()`` strips (Unicode White_Space); ``btrim`` with a set costs a fraction of a regex.
WHITE = "\t\n\x0b\x0c\r \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u2028\u2029\u202f\u205f\u3000"


def _key(column: str) -> Column:
    """The text a reader keeps (surrounding white space off): a person hashes the same in every file."""
    return F.btrim(F.col(column).cast("string"), F.lit(WHITE))


def bucket_of(column: str, buckets: int) -> Column:
    """A person's bucket: a stable hash of ``psn_no``, so a person never spans two buckets."""
    return F.pmod(F.xxhash64(_key(column)), F.lit(buckets)).alias(BUCKET)


def _unpack(table: pa.Table, tag: str) -> pl.DataFrame:
    """The rows of one tagged struct column, as a Polars frame of its fields."""
    col = table.column(tag)
    kept = col.filter(pc.is_valid(col))
    fields = pa.schema(list(col.type.fields))
    batches = [pa.RecordBatch.from_struct_array(c) for c in kept.chunks if len(c)]
    return pl.from_arrow(pa.Table.from_batches(batches, schema=fields))  # type: ignore[return-value]


def _lines_checker(compiled: Compiled, where: str) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """For ``mapInArrow`` on the raw fee lines: check and keep the claimable ones, in fen."""
    schema = to_arrow_schema(_struct(FEE_LINE_SCHEMA))

    def check(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        keep = claimable_lines(compiled)
        with _marked():
            for batch in batches:
                lines = check_fee_lines(pl.from_arrow(batch).lazy(), where, keep)  # type: ignore[union-attr]
                yield from lines.to_arrow().cast(schema).to_batches()

    return check


def _bucket_runner(
    compiled: Compiled, where: tuple[str, str], has_lines: bool, allow_outside: bool
) -> Callable[[pa.Table], pa.Table]:
    """For ``applyInArrow``: one bucket's settlements, lines and persons through the engine."""
    schema = to_arrow_schema(PAYOUTS)
    columns = settlement_columns(compiled)

    def run(table: pa.Table) -> pa.Table:
        with _marked():
            setl = check_settlements(_unpack(table, "s").lazy(), where[0], columns)
            if not allow_outside:
                _refuse_outside(compiled, setl)
            people = check_persons(_unpack(table, "p").lazy(), where[1])
            lines = _unpack(table, "l") if has_lines else None
            result = adjudicate(compiled, setl, people, lines, all_lines=False)
        out = result.settlements.select(
            "setl_id", "psn_no", "tier", pl.col("status").cast(pl.Utf8), yuan_text("payout")
        )
        return out.to_arrow().cast(schema)

    return run


def _refuse_outside(compiled: Compiled, setl: pl.DataFrame) -> None:
    """As ``hmb adjudicate``: records of another year or city belong to another run (a bucket sees only
    its own records, so the count is left out)."""
    if refusal := outside_plan(compiled.plan, setl, counted=False):
        raise Refused(refusal)


def run(
    spark: SparkSession,
    compiled: Compiled,
    *,
    settlements: str,
    insured: str,
    out: str,
    fee_lines: str | None = None,
    buckets: int | None = None,
    allow_outside: bool = False,
) -> Summary:
    """Adjudicate the Parquet year at these URIs and write the payout per settlement as Parquet at ``out``
    (a folder of part files, overwritten): ``setl_id, psn_no, tier, status, payout`` with the payout in
    yuan text, as ``hmb adjudicate`` writes it. ``buckets`` defaults to one per ``BUCKET_RECORDS``
    settlements (Parquet's row count, read from the footers), at least four per core."""
    s = spark.read.parquet(settlements)
    n = buckets or max(4 * spark.sparkContext.defaultParallelism, -(-s.count() // BUCKET_RECORDS))
    spark.conf.set("spark.sql.shuffle.partitions", str(n))  # one bucket per shuffle partition, and
    spark.conf.set("spark.sql.adaptive.coalescePartitions.enabled", "false")  # not merged: every core busy
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", str(ARROW_BATCH))
    p = spark.read.parquet(insured)
    p = p.select([c for c in p.columns if c not in UNREAD])
    for where, frame, names in ((settlements, s, ("setl_id", "psn_no")), (insured, p, ("psn_no",))):
        missing = [c for c in names if c not in frame.columns]
        if missing:  # the bucket is computed before the reader sees a record
            raise Refused(f"{where}：缺少必需的列 {label(missing[0])}")
    _refuse_repeated(s)
    parts = [
        s.select(bucket_of("psn_no", n), F.struct(*s.columns).alias("s")),
        p.select(bucket_of("psn_no", n), F.struct(*p.columns).alias("p")),
    ]
    if fee_lines is not None:
        checked = spark.read.parquet(fee_lines).mapInArrow(
            _lines_checker(compiled, fee_lines), _struct(FEE_LINE_SCHEMA)
        )
        owners = s.select(_key("setl_id").alias("setl_id"), bucket_of("psn_no", n))
        joined = checked.join(owners, "setl_id")
        parts.append(joined.select(BUCKET, F.struct(*FEE_LINE_SCHEMA).alias("l")))
    tagged = parts[0]
    for part in parts[1:]:
        tagged = tagged.unionByName(part, allowMissingColumns=True)
    runner = _bucket_runner(compiled, (settlements, insured), fee_lines is not None, allow_outside)
    payouts = tagged.groupBy(BUCKET).applyInArrow(runner, PAYOUTS)
    try:
        payouts.write.mode("overwrite").parquet(out)
    except Exception as exc:
        found = re.search(re.escape(MARK) + r"(.+)", str(exc))
        if found:
            raise Refused(found.group(1).strip()) from None
        raise
    return summary(spark.read.parquet(out))


def _refuse_repeated(settlements: DataFrame) -> None:
    """A ``setl_id`` under two persons lands in two buckets, where the reader cannot see it: one
    small job over that column refuses it as the Polars run does."""
    ids = settlements.select(_key("setl_id").alias("setl_id"))
    twice = ids.groupBy("setl_id").count().filter(F.col("count") > 1).limit(1).collect()
    if twice:
        raise Refused(f"结算 {twice[0]['setl_id']}：{label('setl_id')}在同一批记录中重复出现")


def summary(payouts: DataFrame) -> Summary:
    """Settlements, those paid and the fen paid, per status, from a written payout dataset."""
    fen = (F.col("payout").cast("decimal(20,2)") * 100).cast("long")
    rows = payouts.groupBy("status").agg(
        F.count("*").alias("n"), F.sum((fen != 0).cast("long")).alias("paid"), F.sum(fen).alias("fen")
    )
    return Summary({r["status"]: (r["n"], r["paid"] or 0, r["fen"] or 0) for r in rows.collect()})


def local_session(master: str = "local[*]", memory: str = "1g") -> SparkSession:
    """A Spark session on this machine: the workers run this interpreter (and so this package), UI off."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    return (
        SparkSession.builder.master(master)
        .appName("huiminbao-adjudicate")
        .config("spark.driver.memory", memory)
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.pyspark.python", sys.executable)
        .getOrCreate()
    )


def main(argv: list[str] | None = None) -> int:
    """``spark-submit`` entry: the master and resources come from spark-submit; prints a JSON summary."""
    ap = argparse.ArgumentParser(prog="spark-submit huiminbao/scale/spark.py", description=__doc__.split("\n")[0])
    ap.add_argument("--plan", required=True, help="plan id, e.g. liaocheng-2024")
    ap.add_argument("--settlements", required=True, help="settlements (setlinfo), Parquet URI")
    ap.add_argument("--insured", required=True, help="insured persons, Parquet URI")
    ap.add_argument("--fee-lines", help="fee lines (feedetl), Parquet URI")
    ap.add_argument("--no-fee-lines", action="store_true", help="the year has no fee lines")
    ap.add_argument("--out", required=True, help="payout per settlement, Parquet folder URI (overwritten)")
    ap.add_argument(
        "--buckets", type=int, help="person-hash buckets (default: one per 32,000 settlements, at least 4 per core)"
    )
    ap.add_argument("--allow-outside", action="store_true", help="records outside the plan pay nothing")
    args = ap.parse_args(argv)
    compiled = compiled_plan(args.plan)
    line_liabilities = any(x.lines is not None for t in compiled.tiers for x in t.liabilities)
    if line_liabilities and args.fee_lines is None and not args.no_fee_lines:
        print(f"方案 {args.plan} 有按费用明细认定的责任：请给出 --fee-lines，或用 --no-fee-lines 确认", file=sys.stderr)
        return 2
    spark = SparkSession.builder.appName("huiminbao-adjudicate").getOrCreate()
    try:
        done = run(
            spark,
            compiled,
            settlements=args.settlements,
            insured=args.insured,
            out=args.out,
            fee_lines=args.fee_lines,
            buckets=args.buckets,
            allow_outside=args.allow_outside,
        )
    except Refused as exc:
        print(str(exc), file=sys.stderr)
        return 2
    finally:
        spark.stop()
    total = {"records": done.records, "paid": done.paid, "payout": to_yuan(done.total), "out": args.out}
    print(json.dumps(total, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
