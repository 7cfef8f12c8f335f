"""Mobile phone numbers (Chinese mainland): check, normalise, mask.

A phone number identifies a person as well as a name does and is how claims will reach them by SMS, so
it is personal data like the ID number: stored SM4-encrypted, shown masked (first 3 and last 4 digits,
``138****1234``), in clear only in an audited view, never in a log line or an error message.
Only mobile numbers are taken (11 digits, ``1[3-9]``): a landline cannot receive a text message.
"""

from __future__ import annotations

import re

import polars as pl

PATTERN = r"^1[3-9]\d{9}$"
_MOBILE = re.compile(PATTERN)
_SEPARATORS = re.compile(r"[\s\-]")
_IN_TEXT = re.compile(r"(?<![0-9A-Za-z])(\+?86|0086)?(1[3-9]\d{9})(?![0-9A-Za-z])")
INVALID = "手机号应为 11 位数字，以 13 至 19 开头"


def normalise_phone(text: str) -> str:
    """Digits only, without spaces, hyphens or a +86 / 0086 country code, as people write them."""
    digits = _SEPARATORS.sub("", text)
    for prefix in ("+86", "0086"):
        if digits.startswith(prefix):
            return digits[len(prefix) :]
    return digits


def is_mobile(phone: str) -> bool:
    """A normalised Chinese mainland mobile number."""
    return _MOBILE.match(phone) is not None


def mask_phone(phone: str) -> str:
    """First 3 and last 4 digits: 13812341234 -> 138****1234."""
    return phone[:3] + "****" + phone[-4:]


def normalised_phones(col: pl.Expr) -> pl.Expr:
    """``normalise_phone`` over a column (a roster holds millions of rows)."""
    digits = col.str.replace_all(r"[\s\-]", "")
    return digits.str.replace(r"^(\+86|0086)", "")


def masked_phones(col: pl.Expr) -> pl.Expr:
    """``mask_phone`` over a column of valid numbers; null where there is no number."""
    return pl.when(col != "").then(pl.concat_str(col.str.slice(0, 3), pl.lit("****"), col.str.slice(7, 4)))


def redact_phones(text: str) -> str:
    """Mask anything shaped like a mobile number in free text (log lines)."""
    return _IN_TEXT.sub(lambda m: (m.group(1) or "") + mask_phone(m.group(2)), text)


__all__ = [
    "INVALID",
    "PATTERN",
    "is_mobile",
    "mask_phone",
    "masked_phones",
    "normalise_phone",
    "normalised_phones",
    "redact_phones",
]
