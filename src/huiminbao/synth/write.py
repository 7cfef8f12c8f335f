"""Writing a synthetic city to files the way a bureau or hospital would send them.

Inside, money is int64 fen; at this edge it becomes yuan with two decimals: text
("1234.56") in CSV, Decimal(18,2) in Parquet, the national interface's form. Lists
(diagnoses, pre-existing conditions, population tags) are ';'-joined in CSV.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import polars as pl
import pyarrow.parquet as pq

from huiminbao.money import to_fen, to_yuan
from huiminbao.synth.city import City
from huiminbao.vocabulary import FEE_LINE_AMOUNTS, OPTIONAL_AMOUNTS, SETTLEMENT_AMOUNTS

Fmt = Literal["parquet", "csv", "both"]
FORMATS: tuple[str, ...] = ("parquet", "csv", "both")
STEMS = ("roster", "settlements", "fee_lines")
YUAN = pl.Decimal(18, 2)
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def _yuan(cols: tuple[str, ...]) -> list[pl.Expr]:
    return [(pl.col(c).cast(pl.Decimal(18, 0)) * pl.lit(Decimal("0.01"))).cast(YUAN).alias(c) for c in cols]


def _csv_ready(df: pl.DataFrame, money: tuple[str, ...]) -> pl.LazyFrame:
    """Yuan text and ';'-joined lists, lazily."""
    exprs: list[pl.Expr] = [e.cast(pl.Utf8) for e in _yuan(money)]
    for name, dtype in df.schema.items():
        if isinstance(dtype, pl.List):
            exprs.append(pl.col(name).list.join(";").alias(name))
    return df.lazy().with_columns(exprs)


def write_city(city: City, out_dir: str | Path, fmt: Fmt = "parquet") -> list[Path]:
    """Write roster, settlements, fee lines (if made), institutions.csv and manifest.json."""
    return write_parts([city], out_dir, fmt)[0]


def write_parts(
    cities: Iterable[City], out_dir: str | Path, fmt: Fmt = "parquet", done: Callable[[City], None] | None = None
) -> tuple[list[Path], dict[str, object]]:
    """Write a city generated in parts (``generate_parts``) into the same files ``write_city`` writes, one
    part at a time: each file is appended to (Parquet row groups; CSV rows under one header), so memory
    holds one part. Returns the files and the manifest, whose counts and control totals are the parts'
    sums. ``done`` is called after each part is written (progress)."""
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be parquet, csv or both, not {fmt!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    kinds = {"roster": (), "settlements": (*SETTLEMENT_AMOUNTS, *OPTIONAL_AMOUNTS), "fee_lines": FEE_LINE_AMOUNTS}
    exts = [e for e in ("csv", "parquet") if fmt in (e, "both")]
    writers: dict[Path, pq.ParquetWriter] = {}
    manifest: dict[str, Any] = {}
    try:
        for city in cities:
            frames = {"roster": city.roster, "settlements": city.settlements, "fee_lines": city.fee_lines}
            for stem, money in kinds.items():
                df = frames[stem]
                for ext in exts if df is not None else []:
                    _append(df, money, out / f"{stem}.{ext}", writers, first=not manifest)
            manifest = _add(manifest, manifest_of(city, fmt, []))
            if done is not None:
                done(city)
    finally:
        for w in writers.values():
            w.close()
    city.institutions.write_csv(out / "institutions.csv")
    files = [out / f"{stem}.{ext}" for stem in kinds for ext in exts if (out / f"{stem}.{ext}").exists()]
    files += [out / "institutions.csv", out / "manifest.json"]
    manifest = {**manifest, "files": [f.name for f in files]}
    (out / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return files, manifest


SLICE_ROWS = 1_000_000  # rows converted to yuan at a time: a copy of a slice, never of the whole frame


def _append(
    df: pl.DataFrame, money: tuple[str, ...], path: Path, writers: dict[Path, pq.ParquetWriter], first: bool
) -> None:
    """Append ``df`` to ``path`` in yuan: Parquet row groups through one writer per file (Decimal(18,2));
    CSV rows as yuan text, under one header written by the first part."""
    for i, rows in enumerate(df.iter_slices(SLICE_ROWS) if df.height else [df]):
        if path.suffix == ".csv":
            with path.open("wb" if first and i == 0 else "ab") as f:
                _csv_ready(rows, money).collect().write_csv(
                    f, include_header=first and i == 0, datetime_format=TIME_FORMAT, null_value=""
                )
            continue
        table = rows.lazy().with_columns(_yuan(money)).collect().to_arrow()
        if path not in writers:
            writers[path] = pq.ParquetWriter(path, table.schema, compression="zstd")
        writers[path].write_table(table)


def _add(total: dict[str, Any], part: dict[str, Any]) -> dict[str, Any]:
    """Two parts' manifests as one: the first part's description, counts and control totals summed."""
    if not total:
        return {**part, "parts": 1}
    counts = {k: None if v is None else v + part["counts"][k] for k, v in total["counts"].items()}
    counts["institutions"] = part["counts"]["institutions"]
    yuan = {
        k: to_yuan(to_fen(v) + to_fen(part["settlement_totals_yuan"][k]))
        for k, v in total["settlement_totals_yuan"].items()
    }
    return {
        **total,
        "persons": total["persons"] + part["persons"],
        "records": total["records"] + part["records"],
        "calibrated": total["calibrated"] and part["calibrated"],
        "timings_seconds": {
            k: round(v + part["timings_seconds"].get(k, 0), 3) for k, v in total["timings_seconds"].items()
        },
        "counts": counts,
        "settlement_totals_yuan": yuan,
        "parts": total["parts"] + 1,
        "part": None,
    }


def output_names() -> list[str]:
    """Every file name ``write_city`` may write, in any format."""
    return [f"{stem}.{ext}" for stem in STEMS for ext in ("csv", "parquet")] + ["institutions.csv", "manifest.json"]


def manifest_of(city: City, fmt: str, files: list[Path]) -> dict[str, object]:
    """The city's manifest plus counts and control totals (yuan) to check an import against."""
    s = city.settlements
    sums = s.select(pl.col(c).sum() for c in SETTLEMENT_AMOUNTS).row(0, named=True) if s.height else {}
    return {
        **city.manifest,
        "format": fmt,
        "written_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "counts": {
            "persons": city.roster.height,
            "institutions": city.institutions.height,
            "settlements": s.height,
            "refunds": int((s["refd_setl_flag"] == "1").sum()),
            "fee_lines": None if city.fee_lines is None else city.fee_lines.height,
        },
        "settlement_totals_yuan": {k: to_yuan(int(sums.get(k) or 0)) for k in SETTLEMENT_AMOUNTS},
        "files": [f.name for f in files],
    }


__all__ = ["FORMATS", "Fmt", "manifest_of", "output_names", "write_city", "write_parts"]
