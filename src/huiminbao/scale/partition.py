"""Years larger than memory: partition by person, adjudicate partition by partition, resume after a stop.

Every annual accumulator is a running sum over one person's records, and a refund names an earlier
settlement of the same person, so persons are independent: cut the year by a hash of ``psn_no`` and
each part adjudicates alone to exactly the payouts of the whole (a person never spans two parts).

The work happens in a folder (``--out``) that records it in ``manifest.json``:

1. ``setl_id`` is checked unique over the whole year (the one check that spans persons), by sorting
   64-bit hashes of the ids: eight bytes a record, the real ids read only for a colliding hash.
2. One pass per input writes the parts to ``_input/<kind>/part=<k>.parquet``: Arrow's readers pull a
   batch at a time and each part has one Parquet writer (lz4, no dictionaries or statistics: a scratch
   copy, written fast), so memory holds a batch and a few rows per part whatever the size of the year.
   Settlements and insured persons go by the hash of their ``psn_no``; fee lines carry no person, so
   the lines any line liability could claim are joined to their settlement's ``psn_no`` first. ID
   numbers and names in the insured file are dropped here, unread, as the in-memory reader drops them.
3. Part by part: the one record reader checks it (messages name the original file), the engine
   adjudicates it exactly as the in-memory run would, and the payouts go to ``part-<k>.parquet``
   (written aside, then renamed) before the manifest marks the part finished with its totals.

A rerun with the same inputs, plan and options skips the finished parts, so a run interrupted at any
point ends as one uninterrupted run; a folder made from other inputs, another plan or other options
is refused rather than mixed, and so is a second run while one holds the folder's lock. When every part
is done the ``_input`` copy is removed.
"""

from __future__ import annotations

import fcntl
import gc
import hashlib
import json
import math
import os
import re
import shutil
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import psutil
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from huiminbao.engine.adjudicate import adjudicate as engine_adjudicate
from huiminbao.engine.adjudicate import claimable_lines, settlement_columns
from huiminbao.money import BP
from huiminbao.plans import Compiled
from huiminbao.settlement.io import check_in_batches, scan, suffix, yuan_text
from huiminbao.settlement.reader import RecordError, check_fee_lines, check_persons, check_unique_setl_ids

MANIFEST = "manifest.json"
LOCK = ".lock"
INPUT = "_input"
FORMAT = 1  # the manifest's layout; a folder written by another layout is refused
SEED = 20_240_101  # fixed: a rerun must send every person to the same part
# Peak bytes per settlement record of the in-memory run, reading and checking included (bench/adjudicate.py:
# 10 M records of the calibrated city, 6.4 GB), and what the process holds before any record is read.
BYTES_PER_RECORD = 700
BASELINE = 512 * 2**20
CSV_BYTES_PER_ROW = 250  # a synthetic settlement row as CSV is about 300 bytes: rounded down, to err on the safe side
MAX_PARTS = 4096
BATCH_ROWS = 100_000  # rows read at a time by the split
WRITE_ROWS = 65_536  # rows a part's file takes at a time (one row group)
UNITS = {"": 1, "B": 1} | {p + b: 2 ** (10 * (i + 1)) for i, p in enumerate("KMGT") for b in ("", "B")}
PRIVATE = ("certno", "psn_name")  # never copied into the parts
OWNER = "_owner"  # a fee line's settlement's psn_no, carried in the fee-line parts only


class PartitionRefused(ValueError):
    """A partitioned run that cannot start: the message (Chinese) names the option or folder at fault."""


@dataclass(frozen=True)
class Inputs:
    settlements: Path
    insured: Path
    fee_lines: Path | None


@dataclass(frozen=True)
class Totals:
    """What the whole year paid, summed from the parts' manifest entries (a resumed run included)."""

    parts: int
    skipped: int  # parts already finished by an earlier run
    records: int
    paid: int  # settlements with a payout
    payout: int  # fen
    by_liability: pl.DataFrame  # liability, n, entitled, payout (fen)
    statuses: dict[str, int]


Tick = Callable[[str, int, int], None]  # (what is being done, parts finished, parts in all)


# --- how many parts -----------------------------------------------------------------------------


def parse_size(text: str) -> int:
    """``4GB``, ``512MB``, ``1.5G``, ``800000`` (bytes) as bytes; binary units, as ``free`` shows them."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?B?)\s*", text.upper())
    if not match or float(match.group(1)) <= 0:
        raise PartitionRefused(f"--memory-limit：“{text}”不是内存大小（如 4GB、512MB）")
    return int(float(match.group(1)) * UNITS[match.group(2)])


def estimate(inputs: Inputs) -> int:
    """Bytes the in-memory run of these inputs would peak at: the settlement count (from Parquet's
    metadata; from the size of a CSV file, not to read it twice) times what a record costs."""
    path = inputs.settlements
    if suffix(path) == ".csv":
        rows = path.stat().st_size // CSV_BYTES_PER_ROW if path.exists() else 0
    else:
        rows = scan(path).select(pl.len()).collect().item()
    return rows * BYTES_PER_RECORD


def part_count(needed: int, memory_limit: int | None, partitions: int | None) -> int | None:
    """The number of parts: as given; else enough that each part's run fits the limit (the machine's
    available memory when none is given). None means the whole year fits: run it in memory."""
    if partitions is not None:
        if not 1 <= partitions <= MAX_PARTS:
            raise PartitionRefused(f"--partitions：分区数须在 1 至 {MAX_PARTS} 之间，收到 {partitions}")
        return partitions
    limit = memory_limit if memory_limit is not None else psutil.virtual_memory().available
    budget = max(limit - BASELINE, limit // 4)
    n = min(MAX_PARTS, max(1, math.ceil(needed / budget)))
    return n if memory_limit is not None or n > 1 else None


# --- the manifest -------------------------------------------------------------------------------


def _fingerprint(path: Path | None) -> dict[str, Any] | None:
    if path is None:
        return None
    stat = path.stat()
    return {"path": str(path.resolve()), "bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _plan_digest(compiled: Compiled) -> str:
    """The plan and its catalogs as compiled: a changed rule or catalog is another run."""
    h = hashlib.sha256(compiled.plan.model_dump_json().encode())
    for name in sorted(compiled.catalog_files):
        h.update(compiled.catalog_files[name].model_dump_json().encode())
    return h.hexdigest()


def _identity(compiled: Compiled, inputs: Inputs, parts: int, options: dict[str, Any]) -> dict[str, Any]:
    """Everything a part's result depends on; the manifest keeps it and a rerun must match it."""
    return {
        "format": FORMAT,
        "plan": compiled.plan.id,
        "plan_sha256": _plan_digest(compiled),
        "inputs": {k: _fingerprint(getattr(inputs, k)) for k in ("settlements", "fee_lines", "insured")},
        "partitions": parts,
        "hash": f"polars {pl.__version__} hash(psn_no, seed={SEED})",
        "options": options,
    }


WHAT = {
    "format": "清单格式",
    "plan": "方案",
    "plan_sha256": "方案或其目录的内容",
    "inputs": "输入文件（路径、大小或修改时间）",
    "partitions": "分区数",
    "hash": "分区哈希（Polars 版本）",
    "options": "选项",
}


def _open(folder: Path, identity: dict[str, Any]) -> dict[str, Any]:
    """The folder's manifest for this run: new, or an earlier run's with the same identity."""
    path = folder / MANIFEST
    if path.exists():
        manifest = json.loads(path.read_text(encoding="utf-8"))
        differ = [WHAT[k] for k in WHAT if manifest.get("identity", {}).get(k) != identity[k]]
        if differ:
            raise PartitionRefused(
                f"--out：目录 {folder} 中是另一次分区理算的结果（{'、'.join(differ)}不同），不能续算；"
                "请换一个新目录，或删除该目录后重新理算"
            )
        return manifest
    manifest = {"identity": identity, "split": None, "finished": {}, "runs": [], "complete": False}
    _save(folder, manifest)
    return manifest


def _save(folder: Path, manifest: dict[str, Any]) -> None:
    """Written aside and renamed: a stop mid-write leaves the previous manifest whole."""
    tmp = folder / f".{MANIFEST}.tmp"
    tmp.write_text(json.dumps(manifest, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, folder / MANIFEST)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


# --- the split ----------------------------------------------------------------------------------


def _text(name: str) -> pl.Expr:
    """As the reader sees a key: text without surrounding spaces."""
    return pl.col(name).cast(pl.Utf8).str.strip_chars()


def person_part(parts: int, column: str = "psn_no") -> pl.Expr:
    """The part a record's person belongs to."""
    return (_text(column).hash(SEED) % parts).alias("part")


def check_unique_ids(path: Path) -> None:
    """A ``setl_id`` given twice is refused as the in-memory reader refuses it, though the two may
    belong to persons in different parts: sorted 64-bit hashes, real ids only for a repeated hash."""
    hashes = scan(path).select(_text("setl_id").hash(SEED).alias("h")).collect(engine="streaming")["h"].sort()
    repeated = hashes.filter(hashes == hashes.shift(1)).unique()
    del hashes
    if repeated.len():
        ids = (
            scan(path)
            .select(_text("setl_id").alias("id"))
            .filter(pl.col("id").hash(SEED).is_in(repeated.implode()))
            .collect(engine="streaming")["id"]
        )
        check_unique_setl_ids(ids)


def _batches(path: Path) -> Iterator[pl.DataFrame]:
    """A file in batches, pulled one at a time (Arrow's readers), so memory holds a batch, not the file.
    A CSV file's columns are all text, as the in-memory reader scans it."""
    if suffix(path) == ".parquet":
        batches = pq.ParquetFile(path).iter_batches(batch_size=BATCH_ROWS)
    else:
        names = scan(path).collect_schema().names()
        text = pacsv.ConvertOptions(column_types=dict.fromkeys(names, pa.string()), strings_can_be_null=True)
        batches = pacsv.open_csv(path, read_options=pacsv.ReadOptions(block_size=2**24), convert_options=text)
    try:
        for batch in batches:
            yield pl.DataFrame(batch)
    except pa.ArrowInvalid as exc:
        raise RecordError(str(path), "(file)", f"无法读取（须为 UTF-8 编码的 CSV 或 Parquet 文件）：{exc}") from exc


def _sink(frames: Iterable[pl.DataFrame], folder: Path, parts: int, person: str = "psn_no") -> None:
    """Append each frame's rows to the file of their person's part, ``folder/part=<k>.parquet``; rows wait
    per part until there are ``WRITE_ROWS`` of them, so the files have few, full row groups."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    writers: dict[int, pq.ParquetWriter] = {}
    waiting: dict[int, list[pl.DataFrame]] = {}

    def flush(k: int) -> None:
        table = pl.concat(waiting.pop(k)).to_arrow()
        if k not in writers:
            writers[k] = pq.ParquetWriter(
                folder / f"part={k}.parquet",
                table.schema,
                compression="lz4",
                use_dictionary=False,
                write_statistics=False,
            )
        writers[k].write_table(table)

    try:
        for frame in frames:
            cut = frame.with_columns(person_part(parts, person)).partition_by("part", as_dict=True, include_key=False)
            for (k,), rows in cut.items():
                waiting.setdefault(k, []).append(rows)
                if sum(f.height for f in waiting[k]) >= WRITE_ROWS:
                    flush(k)
        for k in list(waiting):
            flush(k)
    finally:
        for w in writers.values():
            w.close()


def _lines(plans: Sequence[Compiled], inputs: Inputs) -> Iterable[pl.DataFrame] | None:
    """The fee lines any line liability could claim, with their settlement's person (``OWNER``). Usually few
    (read whole, then matched to their settlements in one streaming pass); when a line condition reads
    an amount every line is kept and the match is a streaming join."""
    if inputs.fee_lines is None:
        return None
    keep = claimable_lines(*plans)
    raw = scan(inputs.fee_lines)
    raw = raw.with_columns(pl.col(pl.Utf8).str.strip_chars())  # the reader's own first step
    persons = scan(inputs.settlements).select(_text("setl_id").alias("setl_id"), _text("psn_no").alias(OWNER))
    lines = raw.with_columns(_text("setl_id").alias("setl_id"))
    if keep is None:
        return lines.join(persons, on="setl_id", how="left").collect_batches(chunk_size=BATCH_ROWS)
    few = lines.filter(keep).collect(engine="streaming")
    ids = few["setl_id"].unique().implode()
    owners = persons.filter(pl.col("setl_id").is_in(ids)).collect(engine="streaming")
    return few.join(owners, on="setl_id", how="left").iter_slices(BATCH_ROWS)


def split(plans: Sequence[Compiled], inputs: Inputs, folder: Path, parts: int, tick: Tick) -> None:
    """One streaming pass per input into the parts (see the module's docstring); the fee lines kept are
    those any of ``plans`` could claim."""
    tick("检查结算ID是否唯一", 0, parts)
    check_unique_ids(inputs.settlements)
    tick("按人员分区：结算记录", 0, parts)
    _sink(_batches(inputs.settlements), folder / "settlements", parts)
    tick("按人员分区：费用明细", 0, parts)
    lines = _lines(plans, inputs)
    if lines is not None:
        _sink(lines, folder / "fee_lines", parts, OWNER)
    tick("按人员分区：参保人", 0, parts)
    people = (f.drop([c for c in PRIVATE if c in f.columns]) for f in _batches(inputs.insured))
    _sink(people, folder / "insured", parts)


# --- part by part -------------------------------------------------------------------------------


def _part(folder: Path, kind: str, k: int, like: pl.LazyFrame) -> pl.LazyFrame:
    """Part ``k`` of an input; a part with no rows (no file was written) reads as none of ``like``."""
    where = folder / kind / f"part={k}.parquet"
    if where.exists():
        return pl.scan_parquet(where)
    return pl.LazyFrame(schema=like.collect_schema())


def lines_text(lines: pl.DataFrame) -> pl.DataFrame:
    """Explanation lines as the platform writes them: yuan text, the ratio as the plan writes it."""
    exact = [yuan_text(c, BP) for c in ("counted", "deductible_used")]
    money = [yuan_text(c) for c in ("base", "entitled", "payout")]
    bp = pl.col("ratio")
    percent = pl.when(bp % 100 == 0).then((bp // 100).cast(pl.Utf8)).otherwise((bp / 100).cast(pl.Utf8))
    return lines.with_columns(*exact, *money, pl.concat_str(percent, pl.lit("%")).alias("ratio"))


def _write(df: pl.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    df.write_parquet(tmp)
    os.replace(tmp, path)


def read_part(
    plans: Sequence[Compiled], inputs: Inputs, src: Path, k: int
) -> tuple[pl.DataFrame, pl.DataFrame | None, pl.DataFrame]:
    """Part ``k`` of the year ``split`` into ``src``, checked by the one reader as the whole files would be:
    the settlements (the columns the plans read), the fee lines and the insured persons, in fen. The
    engine, or any other computation over whole persons, runs on these as on the in-memory year."""
    raw = _part(src, "settlements", k, scan(inputs.settlements))
    setl = check_in_batches(raw, str(inputs.settlements), settlement_columns(*plans))
    lines = None
    if inputs.fee_lines is not None:
        like = scan(inputs.fee_lines).with_columns(pl.lit(None, pl.Utf8).alias(OWNER))
        fee = _part(src, "fee_lines", k, like)
        lines = check_fee_lines(fee.drop(OWNER), str(inputs.fee_lines))
    people_raw = scan(inputs.insured)
    names = people_raw.collect_schema().names()
    people_raw = people_raw.drop([c for c in PRIVATE if c in names])
    people = check_persons(_part(src, "insured", k, people_raw), str(inputs.insured))
    return setl, lines, people


def _one(
    compiled: Compiled,
    inputs: Inputs,
    folder: Path,
    k: int,
    lines_out: Path | None,
    vet: Callable[[pl.DataFrame], None] | None,
) -> dict[str, Any]:
    """Adjudicate part ``k``, write its outputs, return its totals for the manifest."""
    setl, lines, people = read_part([compiled], inputs, folder / INPUT, k)
    if setl.height == 0:  # no person hashed here: nothing to write
        return {
            "file": None,
            "records": 0,
            "paid": 0,
            "payout": 0,
            "by_liability": [],
            "statuses": {},
            "finished_at": _now(),
        }
    if vet is not None:
        vet(setl)
    result = engine_adjudicate(compiled, setl, people, lines, all_lines=False, explain=lines_out is not None)
    name = f"part-{k:05d}.parquet"
    _write(result.settlements.with_columns(yuan_text("payout")), folder / name)
    if lines_out is not None:
        _write(lines_text(result.lines), lines_out / name)
    by = result.lines.group_by("liability").agg(
        (pl.col("payout") != 0).sum().alias("n"), pl.col("entitled").sum(), pl.col("payout").sum()
    )
    return {
        "file": name,
        "records": setl.height,
        "paid": int((result.settlements["payout"] != 0).sum()),
        "payout": int(result.settlements["payout"].sum()),
        "by_liability": by.sort("liability").rows(),
        "statuses": dict(result.settlements.group_by("status").len().iter_rows()),
        "finished_at": _now(),
    }


def adjudicate_partitioned(
    compiled: Compiled,
    inputs: Inputs,
    out: Path,
    parts: int,
    *,
    options: dict[str, Any],
    lines_out: Path | None = None,
    vet: Callable[[pl.DataFrame], None] | None = None,
    tick: Tick | None = None,
    after_part: Callable[[int], None] | None = None,
) -> Totals:
    """Adjudicate a year in ``parts`` parts into the folder ``out``, resuming an earlier run there.

    ``options``: the caller's settings that change results (recorded; a rerun must give the same).
    ``vet``: a check of each part's settlements before adjudication (the CLI refuses other plans' records).
    ``tick``: progress. ``after_part``: called with each part's number once it is recorded (tests stop
    a run there to prove the resume).
    """
    with _only_run(out):
        return _run(compiled, inputs, out, parts, options, lines_out, vet, tick, after_part)


@contextmanager
def _only_run(folder: Path) -> Iterator[None]:
    """One run in a folder at a time: a second would write the same manifest from a stale copy."""
    others = {p.name for p in folder.iterdir()} - {LOCK} if folder.is_dir() else set()
    if folder.is_file() or (others and MANIFEST not in others):
        raise PartitionRefused(f"--out：{folder} 已存在且不是分区理算的输出目录（没有 {MANIFEST}）；请换一个新目录")
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / LOCK).open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise PartitionRefused(f"--out：目录 {folder} 正由另一次理算使用；请等它结束，或换一个目录") from exc
        yield


def _run(
    compiled: Compiled,
    inputs: Inputs,
    out: Path,
    parts: int,
    options: dict[str, Any],
    lines_out: Path | None,
    vet: Callable[[pl.DataFrame], None] | None,
    tick: Tick | None,
    after_part: Callable[[int], None] | None,
) -> Totals:
    report: Tick = tick or (lambda what, done, total: None)
    lines = str(lines_out.resolve()) if lines_out is not None else None
    manifest = _open(out, _identity(compiled, inputs, parts, {**options, "lines": lines}))
    finished: dict[str, Any] = manifest["finished"]
    manifest["runs"].append({"started_at": _now(), "skipped": len(finished)})
    _save(out, manifest)
    if manifest["split"] is None:
        split([compiled], inputs, out / INPUT, parts, report)
        manifest["split"] = _now()
        _save(out, manifest)
    skipped = len(finished)
    for k in range(parts):
        report("逐分区理算", len(finished), parts)
        if str(k) in finished:
            continue
        finished[str(k)] = _one(compiled, inputs, out, k, lines_out, vet)
        _save(out, manifest)
        gc.collect()
        if after_part is not None:
            after_part(k)
    report("完成", parts, parts)
    if not manifest["complete"]:
        manifest["complete"] = True
        _save(out, manifest)
        shutil.rmtree(out / INPUT, ignore_errors=True)
    return _totals(manifest, skipped)


def _totals(manifest: dict[str, Any], skipped: int) -> Totals:
    done = list(manifest["finished"].values())
    rows = [row for p in done for row in p["by_liability"]]
    schema = {"liability": pl.Utf8, "n": pl.Int64, "entitled": pl.Int64, "payout": pl.Int64}
    by = pl.DataFrame(rows, schema=schema, orient="row").group_by("liability").agg(pl.all().sum())
    statuses: dict[str, int] = {}
    for p in done:
        for status, n in p["statuses"].items():
            statuses[status] = statuses.get(status, 0) + n
    return Totals(
        parts=manifest["identity"]["partitions"],
        skipped=skipped,
        records=sum(p["records"] for p in done),
        paid=sum(p["paid"] for p in done),
        payout=sum(p["payout"] for p in done),
        by_liability=by,
        statuses=statuses,
    )
