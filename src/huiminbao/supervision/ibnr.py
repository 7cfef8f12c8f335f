"""Claims incurred but not reported (IBNR) by the chain-ladder method on a cumulative paid triangle.

A triangle has one row per origin (the month of care, or any period a plain file names) and one column per
development age (months from the care month to payment, or whatever unit the file uses); a cell holds what
had been paid on that origin by that age, cumulatively, and is missing (NaN) where the age lies in the
future. The method is the textbook one that the ``chainladder`` package implements by default: the
volume-weighted age-to-age factor ``f_k = sum C[i,k+1] / sum C[i,k]`` over the origins that have both ages,
no tail (development ends at the oldest age seen), the cumulative factor the product of the factors from an
age on, and each origin's ultimate its latest value times the cumulative factor at its latest age. A factor
whose column sums to zero (nothing paid yet at that age) is taken as 1: nothing can be projected from it.

Pure: numpy only, no database. The platform's own triangles are integer fen (``from_cells``); a plain CSV
file (``read_csv``, for ``hmb ibnr``) may hold any numbers, decimals included, since actuaries' sample
triangles are in thousands or in other currencies; figures are shown to two decimals at the edges.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path

import numpy as np

COLUMNS = ("origin", "development", "value")


class TriangleError(ValueError):
    """A triangle file that cannot be read: the line (1 is the header) and the field it concerns."""

    def __init__(self, line: int, field: str | None, message: str) -> None:
        super().__init__(f"第 {line} 行{f' {field}' if field else ''}：{message}")
        self.line, self.field, self.message = line, field, message


@dataclass(frozen=True)
class Triangle:
    """Cumulative paid amounts by origin (rows, in order) and development age (columns, ascending)."""

    origins: tuple[str, ...]
    ages: tuple[int, ...]
    values: np.ndarray  # float64 (origins x ages), NaN where the age is not reached yet


@dataclass(frozen=True)
class ChainLadder:
    """The method's result: factors between consecutive ages, cumulative factors to ultimate per age, and
    per origin the latest value, its age, the ultimate and the IBNR."""

    triangle: Triangle
    factors: np.ndarray  # len(ages) - 1: age k to age k+1
    cdf: np.ndarray  # len(ages): age k to ultimate (1 at the oldest age: no tail)
    latest: np.ndarray
    latest_age: np.ndarray  # index into ages
    ultimate: np.ndarray
    ibnr: np.ndarray


def from_cells(cells: Iterable[tuple[str, int, float]]) -> Triangle:
    """A triangle from (origin, age, cumulative value) cells that already form one (the platform's own,
    built complete); origins are sorted as strings, ages as numbers."""
    table = {(o, a): v for o, a, v in cells}
    origins = tuple(sorted({o for o, _ in table}))
    ages = tuple(sorted({a for _, a in table}))
    values = np.full((len(origins), len(ages)), np.nan)
    row, col = {o: i for i, o in enumerate(origins)}, {a: j for j, a in enumerate(ages)}
    for (o, a), v in table.items():
        values[row[o], col[a]] = v
    return Triangle(origins, ages, values)


def read_csv(source: Path | str) -> tuple[Triangle, list[str]]:
    """Read ``origin,development,value`` rows (a header line, then one cell a line, any order) into a
    triangle and the warnings worth showing (a cumulative value that falls: recoveries happen, so the method
    runs on, but the reader should know). ``TriangleError`` names the line and field of the first problem:
    a missing column, an empty origin, an age that is not a whole number >= 0, a value that is not a
    number, a cell given twice, or a hole (an origin missing an age before one of its later ages)."""
    text = source.read_text(encoding="utf-8-sig") if isinstance(source, Path) else source
    reader = csv.reader(io.StringIO(text))
    header = [h.strip().lower() for h in next(reader, [])]
    for name in COLUMNS:
        if name not in header:
            raise TriangleError(1, name, f"缺少列 {name}（应有表头 origin,development,value）")
    at = {name: header.index(name) for name in COLUMNS}
    seen: dict[tuple[str, int], int] = {}
    cells: dict[tuple[str, int], float] = {}
    for line, row in enumerate(reader, start=2):
        if not any(c.strip() for c in row):
            continue
        origin, age, value = (row[at[n]].strip() if at[n] < len(row) else "" for n in COLUMNS)
        if not origin:
            raise TriangleError(line, "origin", "起始期为空")
        if not (age.isascii() and age.isdigit()):
            raise TriangleError(line, "development", f"发展期应为非负整数，而不是“{age}”")
        try:
            number = Decimal(value)
        except InvalidOperation:
            number = Decimal("NaN")
        if not (number.is_finite() and math.isfinite(float(number))):
            raise TriangleError(line, "value", f"金额应为数字，而不是“{value}”")
        key = (origin, int(age))
        if key in seen:
            raise TriangleError(line, "development", f"起始期 {origin} 发展期 {age} 重复（第 {seen[key]} 行已给出）")
        seen[key], cells[key] = line, float(number)
    if not cells:
        raise TriangleError(1, None, "文件没有数据行")
    triangle = from_cells((o, a, v) for (o, a), v in cells.items())
    warnings: list[str] = []
    for i, origin in enumerate(triangle.origins):
        present = ~np.isnan(triangle.values[i])
        reached = int(present.sum())
        if not present[:reached].all():
            gap = triangle.ages[int(np.argmin(present))]
            last = triangle.ages[int(np.flatnonzero(present)[-1])]
            raise TriangleError(
                seen[(origin, last)], "development", f"起始期 {origin} 缺少发展期 {gap}（三角形中间不能有空格）"
            )
        row = triangle.values[i, :reached]
        for k in np.flatnonzero(np.diff(row) < 0):
            age = triangle.ages[k + 1]
            warnings.append(
                f"第 {seen[(origin, age)]} 行：起始期 {origin} 发展期 {age} 的累计值小于上一期（追回或冲销？），照常计算"
            )
    return triangle, warnings


def chain_ladder(triangle: Triangle) -> ChainLadder:
    """Volume-weighted chain ladder without a tail (see the module's docstring)."""
    c = triangle.values
    n = len(triangle.ages)
    factors = np.ones(max(n - 1, 0))
    for k in range(n - 1):
        both = ~np.isnan(c[:, k]) & ~np.isnan(c[:, k + 1])
        below = c[both, k].sum()
        if below != 0:
            factors[k] = c[both, k + 1].sum() / below
    cdf = np.append(np.cumprod(factors[::-1])[::-1], 1.0)
    latest_age = (~np.isnan(c)).sum(axis=1) - 1
    latest = c[np.arange(len(c)), latest_age]
    ultimate = latest * cdf[latest_age]
    return ChainLadder(triangle, factors, cdf, latest, latest_age, ultimate, ultimate - latest)


def two_decimals(value: float) -> str:
    """A figure as text with two decimals, half up (a plain file's values are not necessarily yuan)."""
    return str(Decimal(repr(float(value))).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def to_dict(result: ChainLadder, amount=two_decimals) -> dict:
    """The result JSON-ready: amounts through ``amount`` (two decimals for a file, ``to_yuan`` of rounded
    fen for the platform), factors as numbers to six decimals."""
    t = result.triangle
    return {
        "origins": list(t.origins),
        "ages": list(t.ages),
        "triangle": [[None if np.isnan(v) else amount(v) for v in row] for row in t.values],
        "factors": [
            {"from": t.ages[k], "to": t.ages[k + 1], "factor": round(float(f), 6)} for k, f in enumerate(result.factors)
        ],
        "cdf": [{"age": a, "factor": round(float(f), 6)} for a, f in zip(t.ages, result.cdf, strict=True)],
        "rows": [
            {
                "origin": o,
                "age": t.ages[int(result.latest_age[i])],
                "latest": amount(result.latest[i]),
                "cdf": round(float(result.cdf[result.latest_age[i]]), 6),
                "ultimate": amount(result.ultimate[i]),
                "ibnr": amount(result.ibnr[i]),
            }
            for i, o in enumerate(t.origins)
        ],
        "total": {
            "latest": amount(result.latest.sum()),
            "ultimate": amount(result.ultimate.sum()),
            "ibnr": amount(result.ibnr.sum()),
        },
    }
