"""Resident ID numbers (公民身份号码, GB 11643-1999): check, mask, make.

An ID number is the strongest personal identifier the platform sees, so every
error message here shows it masked (first 4 and last 2 characters) and the parsed
result keeps only what the platform needs (area, birth date, gender), not the
number itself. The vectorised helpers exist because rosters and synthetic cities
hold millions of numbers: a Python loop per number would dominate an import.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

import numpy as np
import polars as pl
import pyarrow as pa

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARS = "10X98765432"
LENGTH = 18
MIN_BIRTH = date(1800, 1, 1)  # the standard's own example is born in 1880
# First two digits: provinces (11..65), Taiwan (71), Hong Kong / Macau / Taiwan residence
# permits (81..83) and the 2023 foreigners' permanent residence card (9x).
PROVINCES = frozenset(
    f"{p}"
    for p in (
        *range(11, 16),
        21,
        22,
        23,
        *range(31, 38),
        *range(41, 47),
        *range(50, 55),
        *range(61, 66),
        71,
        81,
        82,
        83,
    )
)

_W = np.array(WEIGHTS, dtype=np.int64)
_CHECK_BYTES = np.frombuffer(CHECK_CHARS.encode(), dtype=np.uint8)


class CertNoError(ValueError):
    """An ID number that is not a valid GB 11643 number; the message never holds the number."""


@dataclass(frozen=True)
class CertNo:
    """What a valid ID number tells: area code, birth date, gender ("1" male, "2" female)."""

    area: str
    birth_date: date
    gender: str
    masked: str


def mask_certno(value: object) -> str:
    """Mask an ID number for pages, exports, messages and logs: the first 6 characters (the issuing
    area) and the last 4, stars between (110105********002X).

    Anything shorter than 18 characters is not a whole ID number; it keeps its first 4 and last 2
    at most, and under 10 characters nothing: showing 6 of 9 would show most of the value.
    """
    text = str(value)
    if len(text) < 10:
        return "*" * len(text)
    if len(text) < 18:
        return text[:4] + "*" * (len(text) - 6) + text[-2:]
    return text[:6] + "*" * (len(text) - 10) + text[-4:]


def check_char(first17: str) -> str:
    """The GB 11643 check character for the first 17 digits."""
    total = sum(int(c) * w for c, w in zip(first17, WEIGHTS, strict=True))
    return CHECK_CHARS[total % 11]


def validate_certno(value: str) -> CertNo:
    """Check an ID number and return what it encodes, or raise ``CertNoError`` saying why.

    A lower-case ``x`` is accepted as ``X`` (people type it). The birth date must be a
    real date between 1800-01-01 and today.
    """
    if not isinstance(value, str):
        raise CertNoError(f"ID number must be text, got {type(value).__name__}")
    masked = mask_certno(value)
    if len(value) != LENGTH:
        raise CertNoError(f"ID number must have 18 characters, got {len(value)} ({masked})")
    text = value[:17] + value[17].upper()
    if not text[:17].isascii() or not text[:17].isdigit():
        raise CertNoError(f"ID number: the first 17 characters must be digits ({masked})")
    if text[17] not in "0123456789X":
        raise CertNoError(f"ID number: the last character must be a digit or X ({masked})")
    if text[:2] not in PROVINCES and text[0] != "9":
        raise CertNoError(f"ID number: unknown province code in the area code ({masked})")
    try:
        birth = date(int(text[6:10]), int(text[10:12]), int(text[12:14]))
    except ValueError:
        raise CertNoError(f"ID number: the birth date is not a valid date ({masked})") from None
    if not MIN_BIRTH <= birth <= date.today():
        raise CertNoError(f"ID number: the birth date is out of range ({masked})")
    if check_char(text[:17]) != text[17]:
        raise CertNoError(f"ID number: the check character does not match ({masked})")
    gender = "1" if int(text[16]) % 2 == 1 else "2"
    return CertNo(area=text[:6], birth_date=birth, gender=gender, masked=masked)


def is_valid_certno(value: object) -> bool:
    """True when ``validate_certno`` accepts the value."""
    try:
        validate_certno(value)  # type: ignore[arg-type]
    except CertNoError:
        return False
    return True


def make_certno(area: str, birth: date, seq: int) -> str:
    """Build a valid ID number from a 6-digit area code, a birth date and a sequence 0..999.

    An odd sequence means male, even female.
    """
    if len(area) != 6 or not area.isdigit():
        raise ValueError("area must be 6 digits")
    if not 0 <= seq <= 999:
        raise ValueError("seq must be 0..999")
    first17 = f"{area}{birth:%Y%m%d}{seq:03d}"
    return first17 + check_char(first17)


def make_certnos(
    areas: Iterable[str] | np.ndarray | pl.Series,
    births: Iterable[date] | np.ndarray,
    seqs: Iterable[int] | np.ndarray,
) -> pl.Series:
    """Vectorised ``make_certno`` for millions of numbers: a polars String Series.

    ``births`` is best given as ``datetime64[D]``. Each distinct area and date is encoded
    once and gathered, so the cost is a few array passes per number (no Python loop).
    """
    area_int = pl.Series(areas).cast(pl.Int64).to_numpy()
    birth_days = np.asarray(births, dtype="datetime64[D]").astype(np.int64)
    seq_arr = np.asarray(seqs, dtype=np.int64)
    n = len(area_int)
    if not len(birth_days) == len(seq_arr) == n:
        raise ValueError("areas, births and seqs must have the same length")
    if n == 0:
        return pl.Series("certno", [], dtype=pl.Utf8)
    if seq_arr.min() < 0 or seq_arr.max() > 999:
        raise ValueError("seq must be 0..999")
    if area_int.min() < 100_000 or area_int.max() > 999_999:
        raise ValueError("area must be 6 digits")
    area_u, area_i = _dense(area_int)
    day0 = int(birth_days.min())
    birth_u, birth_i = _dense(birth_days - day0)
    area_txt = [f"{a:06d}" for a in area_u.tolist()]
    date_txt = [d.strftime("%Y%m%d") for d in (birth_u + day0).astype("datetime64[D]").astype(object)]
    seq_txt = [f"{i:03d}" for i in range(1000)]
    # The weighted digit sum is additive over the three parts: sum each distinct part once.
    total = (
        np.array([_weighted(t, 0) for t in area_txt])[area_i]
        + np.array([_weighted(t, 6) for t in date_txt])[birth_i]
        + np.array([_weighted(t, 14) for t in seq_txt])[seq_arr]
    )
    parts = [
        pl.Series(area_txt).gather(area_i),
        pl.Series(date_txt).gather(birth_i),
        pl.Series(seq_txt).gather(seq_arr),
        pl.Series(list(CHECK_CHARS)).gather(total % 11),
    ]
    return pl.select(pl.concat_str(parts).alias("certno")).to_series()


def _weighted(digits: str, offset: int) -> int:
    return sum(int(c) * w for c, w in zip(digits, WEIGHTS[offset : offset + len(digits)], strict=True))


def _dense(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values and each value's index among them, for small non-negative ranges.

    A presence table beats sorting (``np.unique``) for millions of values in a range of
    at most a million (area codes, days between birth dates).
    """
    present = np.zeros(int(values.max()) + 1, dtype=bool)
    present[values] = True
    uniq = np.flatnonzero(present)
    rank = np.cumsum(present) - 1
    return uniq, rank[values]


def certnos_valid(values: Iterable[str | None] | pl.Series) -> np.ndarray:
    """Vectorised validity check (length, characters, province, birth date, check char).

    Returns a boolean numpy array; use ``validate_certno`` on a rejected value to learn why.
    """
    s = values if isinstance(values, pl.Series) else pl.Series(list(values), dtype=pl.Utf8)
    s = s.cast(pl.Utf8)
    ok = (s.str.len_bytes() == LENGTH).fill_null(False).to_numpy().copy()
    k = int(ok.sum())
    if k == 0:
        return ok
    arr = s.filter(pl.Series(ok)).to_arrow().cast(pa.large_string())
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64)[arr.offset : arr.offset + k + 1]
    m = np.frombuffer(arr.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]]
    m = m.reshape(k, LENGTH).astype(np.int32) - 48
    digits = m[:, :17]
    last = m[:, 17]
    last = np.where(last == ord("x") - 48, ord("X") - 48, last)
    good = ((digits >= 0) & (digits <= 9)).all(axis=1)
    good &= ((last >= 0) & (last <= 9)) | (last == ord("X") - 48)
    prov = digits[:, 0] * 10 + digits[:, 1]
    good &= np.isin(prov, [int(p) for p in PROVINCES]) | (digits[:, 0] == 9)
    year = digits[:, 6] * 1000 + digits[:, 7] * 100 + digits[:, 8] * 10 + digits[:, 9]
    month = digits[:, 10] * 10 + digits[:, 11]
    day = digits[:, 12] * 10 + digits[:, 13]
    good_ym = (month >= 1) & (month <= 12) & (year >= MIN_BIRTH.year) & (year <= date.today().year)
    y = np.where(good_ym, year, 2000)
    mo = np.where(good_ym, month, 1)
    first = (y - 1970).astype("datetime64[Y]").astype("datetime64[M]") + (mo - 1)
    month_len = ((first + 1).astype("datetime64[D]") - first.astype("datetime64[D]")).astype(np.int64)
    good &= good_ym & (day >= 1) & (day <= month_len)
    birth = first.astype("datetime64[D]") + np.clip(day - 1, 0, 30)
    good &= birth <= np.datetime64(date.today(), "D")
    expected = _CHECK_BYTES[(np.clip(digits, 0, 9) @ _W.astype(np.int32)) % 11].astype(np.int32) - 48
    good &= expected == last
    ok[ok] = good
    return ok


__all__ = [
    "CertNo",
    "CertNoError",
    "certnos_valid",
    "check_char",
    "is_valid_certno",
    "make_certno",
    "make_certnos",
    "mask_certno",
    "validate_certno",
]
