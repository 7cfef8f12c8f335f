"""Settlement, fee-line and insured files (CSV or Parquet): scanned lazily, checked by the one reader
(``settlement.reader``), written back as the platform's yuan text.

A city's year is read and checked in one streaming pass: the columns the engine reads come out of it
with one flag per record (did any check fail); only a file with a bad record is read again, to name
its first failure.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from huiminbao.settlement.reader import (
    RecordError,
    check_fee_lines,
    check_persons,
    check_settlements,
    check_unique_setl_ids,
)
from huiminbao.vocabulary import SETTLEMENT_SCHEMA


def suffix(path: Path) -> str:
    name = path.name.lower()
    for ext in (".parquet", ".csv"):
        if name.endswith(ext):
            return ext
    raise RecordError(str(path), "(file)", "应为 .csv 或 .parquet 文件")


def scan(path: Path) -> pl.LazyFrame:
    """A settlements, fee-lines or insured file as a lazy frame of text (CSV) or typed (Parquet) columns;
    a missing file is a ``RecordError`` naming it."""
    if not path.exists():
        raise RecordError(str(path), "(file)", "文件不存在")
    if suffix(path) == ".parquet":
        return pl.scan_parquet(path)
    return pl.scan_csv(path, infer_schema=False, encoding="utf8-lossy")


BATCH_ROWS = 1_000_000
"""Settlements checked at a time from a Parquet file. The reader's working memory is several times the
frame it returns (every column it checks is decoded and converted), so a year read whole peaked at
6.8 GB for 10 M records; in batches the peak is one batch's work plus the columns kept."""


def read_settlements(path: Path, columns: list[str] | None = None, batch: int = BATCH_ROWS) -> pl.DataFrame:
    """Settlements (setlinfo) in fen, checked; only ``columns`` (default: all) are returned.

    A Parquet file is checked ``batch`` records at a time (``check_in_batches``); a CSV file in one
    pass (slicing it would re-read the text before each batch)."""
    lf = scan(path)
    if suffix(path) == ".parquet":
        return check_in_batches(lf, str(path), columns, batch)
    return check_settlements(lf, str(path), columns)


def check_in_batches(
    lf: pl.LazyFrame, where: str, columns: list[str] | None = None, batch: int = BATCH_ROWS
) -> pl.DataFrame:
    """``check_settlements`` over a Parquet scan, ``batch`` records at a time, then the ids over all of
    them: the same frame, and any refusal names the same record and field as one pass would."""
    rows = lf.select(pl.len()).collect().item()
    if rows <= batch:
        return check_settlements(lf, where, columns)
    keep = columns or list(SETTLEMENT_SCHEMA)
    wanted = keep if "setl_id" in keep else [*keep, "setl_id"]
    parts = [check_settlements(lf.slice(start, batch), where, wanted) for start in range(0, rows, batch)]
    out = pl.concat(parts, rechunk=False)
    check_unique_setl_ids(out["setl_id"])
    return out.select(keep)


def read_fee_lines(path: Path, where: pl.Expr | None = None) -> pl.DataFrame:
    """Fee lines in fen, checked. ``where`` (a condition on the code columns, such as the plan's
    ``claimable_lines``) reads and checks only the lines it keeps: a city's year has tens of
    millions of lines and the engine reads the few a line liability could claim."""
    return check_fee_lines(scan(path), str(path), where)


def read_insured(path: Path) -> pl.DataFrame:
    """The insured persons. An ID number column, if the file has one, is dropped unread: the engine
    never needs it, and the roster import is where ID numbers are checked and kept (encrypted)."""
    lf = scan(path)
    names = lf.collect_schema().names()
    return check_persons(lf.drop([c for c in ("certno", "psn_name") if c in names]), str(path))


def yuan_text(column: str, scale: int = 1) -> pl.Expr:
    """An integer amount in fen (or fen x ``scale``, rounded half up to the fen) as the platform's
    yuan text with two decimals ("-12.30"), by integer arithmetic: no float, no decimal rounding."""
    raw = pl.col(column)
    fen = (raw.abs() + scale // 2) // scale if scale > 1 else raw.abs()
    whole = (fen // 100).cast(pl.Utf8)
    cents = (fen % 100).cast(pl.Utf8).str.zfill(2)
    sign = pl.when((raw < 0) & (fen > 0)).then(pl.lit("-")).otherwise(pl.lit(""))
    return pl.concat_str(sign, whole, pl.lit("."), cents).alias(column)


def write_frame(df: pl.DataFrame, path: Path) -> None:
    """Write CSV or Parquet by the file's extension, creating the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix(path) == ".parquet":
        df.write_parquet(path)
    else:
        df.write_csv(path)
