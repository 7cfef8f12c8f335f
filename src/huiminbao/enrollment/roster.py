"""The bureau's roster file (INTERFACES.md): read it and sort its rows into good ones and rejections.

Everything here is vectorised over a Polars frame, because a city's roster holds millions of rows: the
GB 11643 check digit, the code lists, dates and the two kinds of conflict inside the file (one
``psn_no`` with different data on two lines; one ID number under two ``psn_no``). A bad row is never
partly used: it goes to the report with its line, field and a Chinese reason, once per bad field, and
the report never quotes an ID number, a name or a phone number. Beyond INTERFACES.md's columns, an
optional ``phone`` (the person's mobile, for notifications) is read when the file has it. No database
here; ``roster_store`` writes the rows.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import polars as pl

from huiminbao.identity.certno import certnos_valid
from huiminbao.identity.phone import INVALID as INVALID_PHONE
from huiminbao.identity.phone import PATTERN as MOBILE
from huiminbao.identity.phone import normalised_phones
from huiminbao.vocabulary import INSU_STATUSES, INSUTYPES_KNOWN, POPULATIONS

COLUMNS = ("psn_no", "certno", "psn_name", "gend", "brdy", "insutype", "insu_admdvs", "psn_insu_stas", "psn_insu_date")
OPTIONAL = ("populations", "phone")  # missing from a file: empty for every row
ALIASES = {"name": "psn_name", "gender": "gend", "birth_date": "brdy"}  # the synthetic city's older names
GENDERS = ("1", "2", "9")
MAX_PSN_NO = 40
MAX_NAME = 50
REPORT_HEADER = ("line", "psn_no", "field", "reason")
LINE = "_line"


class RosterError(ValueError):
    """A roster that cannot be read at all (not a table, missing columns); names the file."""


@dataclass(frozen=True)
class CheckedRoster:
    """The rows to import (one per ``psn_no``, normalised) and the rejections (line, psn_no, field, reason)."""

    rows: int  # data rows in the file
    good: pl.DataFrame
    rejects: pl.DataFrame

    @property
    def rejected(self) -> int:
        """Rejected rows (a row with three bad fields counts once)."""
        return self.rejects[LINE].n_unique() if self.rejects.height else 0


def mask_name(name: str) -> str:
    """Keep the surname only: 张三 -> 张*, 欧阳小明 -> 欧***."""
    name = name.strip()
    return name[:1] + "*" * max(len(name) - 1, 1) if name else ""


def masked_names(col: pl.Expr) -> pl.Expr:
    """``mask_name`` over a column (names are never empty here: the check rejects them)."""
    return col.str.slice(0, 1).str.pad_end(pl.max_horizontal(col.str.len_chars(), 2), "*")


def read_table(path: Path, data: bytes | None = None) -> pl.DataFrame:
    """A roster file as text columns plus its line numbers (the header is line 1)."""
    suffix = path.suffix.lower()
    source: Path | io.BytesIO = io.BytesIO(data) if data is not None else path
    try:
        if suffix == ".xlsx":
            frame = pl.read_excel(source, engine="calamine", infer_schema_length=0)
        elif suffix == ".parquet":
            frame = pl.read_parquet(source)
        elif suffix in (".csv", ".txt"):
            frame = pl.read_csv(source, infer_schema=False, encoding="utf8", truncate_ragged_lines=True)
        else:
            raise RosterError(f"{path.name}: 名册应为 .csv 或 .xlsx 文件")
    except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
        if isinstance(exc, RosterError):
            raise
        raise RosterError(f"{path.name}: 无法读取名册：{type(exc).__name__}") from None
    frame = frame.rename({c: c.strip().lstrip("\ufeff") for c in frame.columns})
    frame = frame.rename({k: v for k, v in ALIASES.items() if k in frame.columns and v not in frame.columns})
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise RosterError(f"{path.name}: 缺少列 {', '.join(missing)}")
    wanted = [c for c in (*COLUMNS, *OPTIONAL) if c in frame.columns]
    out = frame.select([_text(frame, c) for c in wanted] + [(pl.int_range(pl.len(), dtype=pl.Int64) + 2).alias(LINE)])
    return out.with_columns(pl.lit("").alias(c) for c in OPTIONAL if c not in out.columns)


def _text(frame: pl.DataFrame, name: str) -> pl.Expr:
    """Any column as trimmed text; dates (Excel, Parquet) as ISO days, lists of tags joined by ';'."""
    dtype = frame.schema[name]
    col = pl.col(name)
    if dtype == pl.Date or dtype == pl.Datetime:
        col = col.dt.strftime("%Y-%m-%d")
    elif isinstance(dtype, pl.List):
        col = col.list.join(";")
    expr = col.cast(pl.Utf8).str.strip_chars().fill_null("")
    if name in ("brdy", "psn_insu_date"):
        expr = expr.str.replace(r"[ T]00:00:00(\.0+)?$", "")
    return expr.alias(name)


def check(frame: pl.DataFrame, *, today: date) -> CheckedRoster:
    """Sort the rows: each bad field of a row becomes one rejection; good rows are normalised and one
    per ``psn_no`` (lines that repeat a person with the same data collapse into the first)."""
    certno = frame["certno"].str.to_uppercase()
    frame = frame.with_columns(
        certno.alias("certno"),
        pl.Series("_certno_ok", certnos_valid(certno)),
        pl.col("brdy").str.to_date("%Y-%m-%d", strict=False).alias("_brdy"),
        pl.col("psn_insu_date").str.to_date("%Y-%m-%d", strict=False).alias("_stas_date"),
        _tags(pl.col("populations")).alias("populations"),
        normalised_phones(pl.col("phone")).alias("phone"),
    )
    checks: list[tuple[str, pl.Expr, str]] = [
        ("psn_no", pl.col("psn_no") == "", "人员编号为空"),
        ("psn_no", pl.col("psn_no").str.len_chars() > MAX_PSN_NO, f"人员编号超过 {MAX_PSN_NO} 位"),
        ("certno", ~pl.col("_certno_ok"), "身份证号不符合 GB 11643（长度、出生日期或校验位错误）"),
        ("psn_name", pl.col("psn_name") == "", "姓名为空"),
        ("psn_name", pl.col("psn_name").str.len_chars() > MAX_NAME, f"姓名超过 {MAX_NAME} 个字"),
        ("gend", ~pl.col("gend").is_in(GENDERS), "性别应为 1（男）、2（女）或 9（未知）"),
        ("brdy", pl.col("_brdy").is_null(), "出生日期应为 YYYY-MM-DD 格式的有效日期"),
        ("brdy", pl.col("_brdy") > today, "出生日期晚于今天"),
        ("insutype", ~pl.col("insutype").is_in(list(INSUTYPES_KNOWN)), "险种类型不是国家医保字典中的代码"),
        ("insu_admdvs", ~pl.col("insu_admdvs").str.contains(r"^\d{6}$"), "参保地区划应为 6 位数字"),
        ("psn_insu_stas", ~pl.col("psn_insu_stas").is_in(list(INSU_STATUSES)), "参保状态应为 1、2 或 4"),
        ("psn_insu_date", pl.col("_stas_date").is_null(), "参保状态日期应为 YYYY-MM-DD 格式的有效日期"),
        ("populations", _unknown_tags(pl.col("populations")), "人群标识不在清单中：" + "、".join(POPULATIONS)),
        ("phone", (pl.col("phone") != "") & ~pl.col("phone").str.contains(MOBILE), INVALID_PHONE),
    ]
    flagged = frame.select(
        LINE, "psn_no", *[expr.fill_null(False).alias(f"_bad{i}") for i, (_, expr, _) in enumerate(checks)]
    )
    rejects = pl.concat(
        [
            flagged.filter(pl.col(f"_bad{i}")).select(
                LINE, "psn_no", pl.lit(field).alias("field"), pl.lit(reason).alias("reason")
            )
            for i, (field, _, reason) in enumerate(checks)
        ]
    )
    bad_lines = rejects[LINE].unique()
    valid = frame.filter(~pl.col(LINE).is_in(bad_lines.implode()))
    valid, conflicts = _conflicts(valid)
    rejects = pl.concat([rejects, conflicts]).sort(LINE, "field")
    good = valid.select(
        "psn_no",
        "certno",
        "psn_name",
        "gend",
        pl.col("_brdy").alias("brdy"),
        "insutype",
        "insu_admdvs",
        "psn_insu_stas",
        pl.col("_stas_date").alias("psn_insu_date"),
        "populations",
        "phone",
        LINE,
    )
    return CheckedRoster(rows=frame.height, good=good, rejects=rejects)


def _tags(col: pl.Expr) -> pl.Expr:
    """Population tags as the table stores them: split on ; or ,, trimmed, sorted, unique, joined by ;."""
    return (
        col.str.replace_all("[,，；]", ";")
        .str.split(";")
        .list.eval(pl.element().str.strip_chars().filter(pl.element() != ""))
        .list.unique()
        .list.sort()
        .list.join(";")
    )


def _unknown_tags(col: pl.Expr) -> pl.Expr:
    return (
        col.str.split(";").list.eval(pl.element().filter(pl.element() != "").is_in(list(POPULATIONS)).not_()).list.any()
    )


CONTENT = (
    "certno",
    "psn_name",
    "gend",
    "_brdy",
    "insutype",
    "insu_admdvs",
    "psn_insu_stas",
    "_stas_date",
    "populations",
    "phone",
)


def _conflicts(valid: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Drop exact repeats; reject every line of a ``psn_no`` given with different data, and every line of an
    ID number given under different ``psn_no``."""
    valid = valid.unique(subset=["psn_no", *CONTENT], keep="first", maintain_order=True)
    first = pl.col(LINE).min().over("psn_no")
    psn_dup = valid.filter(pl.len().over("psn_no") > 1).select(
        LINE, "psn_no", pl.lit("psn_no").alias("field"), first.alias("_first")
    )
    certno_dup = valid.filter(pl.col("psn_no").n_unique().over("certno") > 1).select(
        LINE, "psn_no", pl.lit("certno").alias("field"), pl.col(LINE).min().over("certno").alias("_first")
    )
    conflicts = pl.concat(
        [
            psn_dup.with_columns(
                pl.format("同一人员编号在文件中出现多次且内容不同（首次在第 {} 行）", "_first").alias("reason")
            ),
            certno_dup.with_columns(
                pl.format("该身份证号在文件中对应多个人员编号（首次在第 {} 行）", "_first").alias("reason")
            ),
        ]
    ).drop("_first")
    return valid.filter(~pl.col(LINE).is_in(conflicts[LINE].implode())), conflicts


def report_csv(rejects: pl.DataFrame) -> str:
    """The rejection report as CSV text (UTF-8; a BOM so that Excel shows the Chinese)."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(REPORT_HEADER)
    writer.writerows(rejects.select(LINE, "psn_no", "field", "reason").iter_rows())
    return out.getvalue()


__all__ = [
    "COLUMNS",
    "CheckedRoster",
    "RosterError",
    "check",
    "mask_name",
    "masked_names",
    "read_table",
    "report_csv",
]
