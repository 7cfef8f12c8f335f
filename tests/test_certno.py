"""GB 11643 ID numbers: check characters, reasons for rejection, masks that never leak."""

from __future__ import annotations

import random
from datetime import date, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from huiminbao.identity.certno import (
    PROVINCES,
    CertNoError,
    certnos_valid,
    check_char,
    is_valid_certno,
    make_certno,
    make_certnos,
    mask_certno,
    validate_certno,
)

# 11010519491231002X is the standard's example; its check by hand: the weighted sum of
# 11010519491231002 is 167, 167 mod 11 = 2, and "10X98765432"[2] = "X".
KNOWN_VALID = ["11010519491231002X", "440524188001010014"]


def test_known_numbers() -> None:
    c = validate_certno("11010519491231002X")
    assert (c.area, c.birth_date, c.gender) == ("110105", date(1949, 12, 31), "2")
    assert validate_certno("440524188001010014").gender == "1"
    assert check_char("11010519491231002") == "X"
    assert validate_certno("11010519491231002x").area == "110105"  # typed lower case


def test_make_certno() -> None:
    assert make_certno("110105", date(1949, 12, 31), 2) == "11010519491231002X"
    assert make_certno("440524", date(1880, 1, 1), 1) == "440524188001010014"
    with pytest.raises(ValueError):
        make_certno("11010", date(1949, 12, 31), 2)
    with pytest.raises(ValueError):
        make_certno("110105", date(1949, 12, 31), 1000)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("11010519491231002", "18 characters"),
        ("11010519491231002X1", "18 characters"),
        ("1101051949123100AX", "first 17 characters must be digits"),
        ("１1010519491231002X", "first 17 characters must be digits"),
        ("11010519491231002Y", "last character"),
        ("00010519491231002X", "province"),
        ("11010519491331002X", "not a valid date"),
        ("11010519490229002X", "not a valid date"),
        ("11010517990101002X", "out of range"),
        (f"110105{date.today().year + 1}0101002X", "out of range"),
        ("110105194912310021", "check character"),
    ],
)
def test_rejections_say_why_and_never_leak(value: str, reason: str) -> None:
    with pytest.raises(CertNoError) as err:
        validate_certno(value)
    msg = str(err.value)
    assert reason in msg
    assert value not in msg
    assert value[4:-2] not in msg  # the middle, where birth date and sequence are
    assert value[6:14] not in msg
    assert not is_valid_certno(value)


def test_non_text_rejected() -> None:
    with pytest.raises(CertNoError, match="text"):
        validate_certno(110105194912310029)  # type: ignore[arg-type]


def test_mask() -> None:
    assert mask_certno("11010519491231002X") == "110105********002X"
    assert mask_certno("371502") == "******"
    assert mask_certno("1234567890") == "1234****90"


def test_vectorised_make_matches_scalar() -> None:
    rng = np.random.default_rng(1)
    n = 500
    areas = rng.choice(np.array([371502, 330802, 110105]), n)
    births = np.datetime64("1930-01-01") + rng.integers(0, 30_000, n)
    seqs = rng.integers(0, 1000, n)
    many = make_certnos(areas, births, seqs).to_list()
    one = [make_certno(str(a), b.astype(object), int(q)) for a, b, q in zip(areas, births, seqs, strict=True)]
    assert many == one
    assert certnos_valid(many).all()
    assert make_certnos(["371502"], [date(2000, 1, 1)], [7]).to_list() == [make_certno("371502", date(2000, 1, 1), 7)]
    assert make_certnos([], np.array([], dtype="datetime64[D]"), []).to_list() == []


def test_vectorised_validity_agrees_with_scalar() -> None:
    rng = random.Random(3)
    values: list[str | None] = [*KNOWN_VALID, None, "", "11010519491231002x", "1101051949123100２X"]
    for _ in range(2000):
        v = list(make_certno("371502", date(1950, 1, 1) + timedelta(days=rng.randrange(20000)), rng.randrange(1000)))
        i = rng.randrange(18)
        v[i] = rng.choice("0123456789X")
        values.append("".join(v))
    got = certnos_valid(values)
    want = [v is not None and is_valid_certno(v) for v in values]
    assert got.tolist() == want


areas = st.builds(lambda p, rest: f"{p}{rest:04d}", st.sampled_from(sorted(PROVINCES)), st.integers(0, 9999))


@settings(max_examples=300)
@given(area=areas, birth=st.dates(date(1900, 1, 1), date.today()), seq=st.integers(0, 999))
def test_round_trip(area: str, birth: date, seq: int) -> None:
    number = make_certno(area, birth, seq)
    c = validate_certno(number)
    assert (c.area, c.birth_date, c.gender) == (area, birth, "1" if seq % 2 else "2")
    assert c.masked == mask_certno(number) and number not in repr(c)
    assert certnos_valid([number]).tolist() == [True]


@settings(max_examples=300)
@given(st.text(alphabet="0123456789Xx", min_size=18, max_size=18))
def test_vectorised_validity_property(value: str) -> None:
    assert certnos_valid([value]).tolist() == [is_valid_certno(value)]
