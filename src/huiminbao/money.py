"""Money at the edges: yuan strings with two decimals outside, integer fen inside.

The national platform writes amounts as yuan with two decimals; everything inside
the platform is integer fen (int64 in frames, BIGINT in SQL) so that sums are exact.
Ratios are integer basis points. Rounding happens once, half up, on a person's
cumulative exact amount (see ``engine``), never per claim.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

FEN_PER_YUAN = 100
BP = 10_000  # basis points in one
MAX_FEN = 9_999_999_999  # 99,999,999.99 yuan: above this, one settlement's amount is a broken feed, not a stay


class AmountError(ValueError):
    """An amount that is not a yuan value with at most two decimals."""


def to_fen(value: str | int | float | Decimal) -> int:
    """Parse a yuan amount ("1234.56", 1234.56, 1234) into integer fen.

    Floats are read through their shortest repr so that 0.1 stays 0.1. More than
    two decimals is an error: the national platform never sends them, and silently
    rounding an input would hide a broken feed.
    """
    if isinstance(value, bool):
        raise AmountError(f"not an amount: {value!r}")
    try:
        d = Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value).strip())
    except InvalidOperation as exc:
        raise AmountError(f"not an amount: {value!r}") from exc
    if not d.is_finite():
        raise AmountError(f"not an amount: {value!r}")
    fen = d * FEN_PER_YUAN
    if fen != fen.to_integral_value():
        raise AmountError(f"more than two decimals: {value!r}")
    return int(fen)


def to_yuan(fen: int) -> str:
    """Format integer fen as a yuan string with two decimals ("-12.30")."""
    sign = "-" if fen < 0 else ""
    q, r = divmod(abs(int(fen)), FEN_PER_YUAN)
    return f"{sign}{q}.{r:02d}"


def to_yuan_grouped(fen: int) -> str:
    """Yuan with thousands separators, for people reading a page or a PDF: 1600000 -> "16,000.00"."""
    text = to_yuan(fen)
    sign, text = ("-", text[1:]) if text.startswith("-") else ("", text)
    whole, frac = text.split(".")
    return f"{sign}{int(whole):,}.{frac}"


def ratio_to_bp(value: str | int | float | Decimal) -> int:
    """Parse a ratio written as a percentage ("80%") or a fraction (0.8) into basis points."""
    text = str(value).strip()
    try:
        d = Decimal(text[:-1]) / 100 if text.endswith("%") else Decimal(text)
    except InvalidOperation as exc:
        raise AmountError(f"not a ratio: {value!r}") from exc
    bp = d * BP
    if bp != bp.to_integral_value() or not 0 <= bp <= BP:
        raise AmountError(f"ratio must be 0..100% in whole basis points: {value!r}")
    return int(bp)


def round_half_up_div(numerator: int, denominator: int) -> int:
    """Integer division rounding half away from zero: the one rounding rule of the platform."""
    if denominator <= 0:
        raise ValueError("denominator must be positive")
    q, r = divmod(abs(numerator), denominator)
    if 2 * r >= denominator:
        q += 1
    return q if numerator >= 0 else -q


def bp_to_percent(bp: int) -> str:
    """Basis points as a percentage string for people ("80%", "12.5%")."""
    d = (Decimal(bp) / 100).normalize()
    return f"{d:f}%"


__all__ = [
    "BP",
    "FEN_PER_YUAN",
    "MAX_FEN",
    "AmountError",
    "bp_to_percent",
    "ratio_to_bp",
    "round_half_up_div",
    "to_fen",
    "to_yuan",
    "to_yuan_grouped",
]
