"""Writing a synthetic city to files the way a bureau or hospital would send them.

Inside, money is int64 fen; at this edge it becomes yuan with two decimals: text
("1234.56") in CSV, Decimal(18,2) in Parquet, the national interface's form. Lists
(diagnoses, pre-existing conditions, population tags) are ';'-joined in CSV.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Literal

import polars as pl

from huiminbao.money import to_yuan
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


def _write(df: pl.DataFrame, money: tuple[str, ...], out: Path, stem: str, fmt: Fmt) -> list[Path]:
    """Stream the conversion to yuan into the file: no second whole-city copy in memory."""
    written = []
    if fmt in ("csv", "both"):
        path = out / f"{stem}.csv"
        _csv_ready(df, money).sink_csv(path, datetime_format=TIME_FORMAT, null_value="")
        written.append(path)
    if fmt in ("parquet", "both"):
        path = out / f"{stem}.parquet"
        df.lazy().with_columns(_yuan(money)).sink_parquet(path)
        written.append(path)
    return written


def write_city(city: City, out_dir: str | Path, fmt: Fmt = "parquet") -> list[Path]:
    """Write roster, settlements, fee lines (if made), institutions.csv and manifest.json."""
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be parquet, csv or both, not {fmt!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = _write(city.roster, (), out, "roster", fmt)
    files += _write(city.settlements, (*SETTLEMENT_AMOUNTS, *OPTIONAL_AMOUNTS), out, "settlements", fmt)
    if city.fee_lines is not None:
        files += _write(city.fee_lines, FEE_LINE_AMOUNTS, out, "fee_lines", fmt)
    inst_path = out / "institutions.csv"
    city.institutions.write_csv(inst_path)
    files.append(inst_path)
    manifest = out / "manifest.json"
    manifest.write_text(
        json.dumps(manifest_of(city, fmt, files), ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    return [*files, manifest]


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


__all__ = ["FORMATS", "Fmt", "manifest_of", "output_names", "write_city"]
