"""The bureau's roster of basic insured people: ages, insurance types, conditions, tags, mobile phones.

Everything is drawn per column with numpy; the roster frame is what a bureau would
export, and ``People`` keeps the numeric attributes the settlement generator reads
(age, county, employee, conditions) so it never parses strings back.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from huiminbao.identity.certno import make_certnos
from huiminbao.synth import calibration as K
from huiminbao.synth import vocab
from huiminbao.synth.arrays import fixed_ids, lists_from_matrix, take_str
from huiminbao.synth.profile import CityProfile
from huiminbao.vocabulary import POPULATIONS as POPULATION_LABELS

# Population share by 5-year age band 0-4 ... 85-89, 90-95 (China 2020 census, rounded).
AGE_BANDS = np.array([5.9, 6.4, 6.3, 5.3, 5.3, 6.3, 8.8, 7.0, 6.6, 8.0, 8.7, 7.2, 5.2, 5.5, 3.7, 2.3, 1.5, 0.8, 0.3])
POPULATIONS = tuple(POPULATION_LABELS)  # the roster's tags, in the vocabulary's order
ASSISTED_TAGS = ("poverty_alleviated", "extreme_hardship", "low_income")  # medical assistance (医疗救助) may pay
# Mobile prefixes of the three carriers (China Mobile, Unicom, Telecom), for plausible demo numbers.
MOBILE_PREFIXES = (
    "134", "135", "136", "137", "138", "139", "150", "151", "152", "157", "158", "159", "178", "182", "183",
    "187", "188", "198", "130", "131", "132", "155", "156", "166", "175", "176", "185", "186", "133", "153",
    "173", "177", "180", "181", "189", "199",
)  # fmt: skip
PHONE_SHARE = 0.6  # illustrative: people of 16 or over whose roster row carries a mobile (the column is optional)
PHONE_MIN_AGE = 16


@dataclass(frozen=True)
class People:
    """Numeric person attributes, index-aligned with the roster rows."""

    county: np.ndarray  # index into profile.counties
    age: np.ndarray
    male: np.ndarray
    employee: np.ndarray
    pre_code: np.ndarray  # first pre-existing condition, index into vocab.PREEXISTING, -1 none
    cancer: np.ndarray
    chronic: np.ndarray  # a chronic (non-cancer) pre-existing condition
    assisted: np.ndarray  # poverty-lifted or low-income: medical assistance may pay
    civil_servant: np.ndarray
    enterprise_supp: np.ndarray


def _unique_seqs(
    rng: np.random.Generator, area: np.ndarray, days: np.ndarray, male: np.ndarray, slot: tuple[int, int] = (0, 1)
) -> np.ndarray:
    """Sequence numbers (odd male, even female) such that no two people share an ID number.

    People of one area, birth date and sex get consecutive slots from a random start,
    so numbers are distinct by construction (one sort, no retry loop) while a cell
    holds at most 499 people of a sex, which a city of any real size never exceeds.
    A city generated in parts (``slot`` = part k of K) gives part k every K-th slot only,
    so ID numbers stay distinct across the parts too.
    """
    k, parts = slot
    room = 499 // parts
    n = len(area)
    cell = (area * 10**6 + (days - days.min())) * 2 + male
    order = np.argsort(cell)
    sorted_cell = cell[order]
    first = np.ones(n, dtype=bool)
    first[1:] = sorted_cell[1:] != sorted_cell[:-1]
    start = np.flatnonzero(first)
    group = np.cumsum(first) - 1
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n) - start[group]
    if n and rank.max() >= room:
        raise ValueError("too many people share an area, birth date and sex for distinct ID numbers")
    offset = np.empty(n, dtype=np.int64)
    offset[order] = rng.integers(0, room, len(start))[group]
    seq = ((offset + rank) % room) * parts + k
    return np.where(male, 2 * seq + 1, 2 * seq + 2)


def _names(rng: np.random.Generator, male: np.ndarray) -> pl.Series:
    n = len(male)
    sw = np.array([w for _, w in vocab.SURNAMES])
    sur = rng.choice(len(sw), n, p=sw / sw.sum())
    pool = vocab.GIVEN_MALE + vocab.GIVEN_FEMALE
    nm = len(vocab.GIVEN_MALE)
    nf = len(vocab.GIVEN_FEMALE)
    g1 = np.where(male, rng.integers(0, nm, n), nm + rng.integers(0, nf, n))
    g2 = np.where(male, rng.integers(0, nm, n), nm + rng.integers(0, nf, n))
    two = rng.random(n) < 0.65
    df = pl.DataFrame(
        {
            "s": take_str([s for s, _ in vocab.SURNAMES], sur, "s"),
            "a": take_str(pool, g1, "a"),
            "b": take_str(pool, np.where(two, g2, -1), "b").fill_null(""),
        }
    )
    return df.select(pl.concat_str(["s", "a", "b"]).alias("psn_name")).to_series()


def make_roster(
    profile: CityProfile, n: int, rng: np.random.Generator, *, first: int = 0, slot: tuple[int, int] = (0, 1)
) -> tuple[pl.DataFrame, People]:
    """``n`` insured people of the plan's city, and their numeric attributes; ``first`` numbers the first
    person (``psn_no``) and ``slot`` keeps ID numbers apart from other parts of the same city."""
    k = len(profile.counties)
    cw = np.ones(k)
    cw[0] = 2.0  # the urban district is the largest
    county = rng.choice(k, n, p=cw / cw.sum())
    weights = AGE_BANDS * K.TAKE_UP_BY_AGE
    band = rng.choice(len(AGE_BANDS), n, p=weights / weights.sum())
    age = band * 5 + rng.integers(0, 5, n) + (band == len(AGE_BANDS) - 1) * rng.integers(0, 2, n)
    start = np.datetime64(profile.cover_start, "D")
    days = (start - np.rint(age * 365.25).astype(np.int64) - rng.integers(1, 366, n)).astype(np.int64)
    male = rng.random(n) < 0.51
    codes = np.array([int(c) for c, _ in profile.counties])
    cert_county = np.where(rng.random(n) < 0.9, county, rng.integers(0, k, n))
    area = codes[cert_county]
    seq = _unique_seqs(rng, area, days, male, slot)
    certno = make_certnos(area, days.astype("datetime64[D]"), seq)

    u = rng.random(n)
    share = profile.employee_share
    employee = (age >= 18) & (u < np.where(age >= 60, share["retired"], share["adult"]))

    pw = np.array([w for _, w, _ in vocab.PREEXISTING])
    p_pre = np.select([age < 30, age < 50, age < 65], [0.015, 0.05, 0.15], 0.25)
    has = rng.random((n, 2)) < np.stack([p_pre, p_pre * 0.25], axis=1)
    has[:, 1] &= has[:, 0]
    pre = rng.choice(len(pw), (n, 2), p=pw / pw.sum())
    names = [c for c, _, _ in vocab.PREEXISTING]
    breast, lung = names.index(vocab.BREAST_CANCER), names.index("C34.9")
    pre = np.where((pre == breast) & male[:, None], lung, pre)
    has[:, 1] &= pre[:, 1] != pre[:, 0]
    cancer_codes = np.array([kind == "cancer" for _, _, kind in vocab.PREEXISTING])
    cancer = (has & cancer_codes[pre]).any(axis=1)
    chronic = (has & ~cancer_codes[pre]).any(axis=1)

    tags = _tags(profile, rng, employee, male, age)
    poverty = tags[:, POPULATIONS.index("poverty_alleviated")]
    tier = _tiers(profile, rng, poverty, has[:, 0])
    roster = pl.DataFrame(
        [
            fixed_ids(profile.region_code[:4], np.arange(first, first + n), 10**15, "psn_no"),
            certno,
            _names(rng, male),
            take_str(["1", "2"], np.where(male, 0, 1), "gend"),
            pl.Series("birth_date", days.astype("datetime64[D]")),
            take_str(["310", "390"], np.where(employee, 0, 1), "insutype"),
            take_str([c for c, _ in profile.counties], county, "insu_admdvs"),
            pl.Series("psn_insu_stas", ["1"] * n, dtype=pl.Utf8),
            pl.Series("psn_insu_date", _insured_since(start, days)),
            lists_from_matrix(has, pre, names, "preexisting"),
            lists_from_matrix(
                tags, np.broadcast_to(np.arange(len(POPULATIONS)), tags.shape), POPULATIONS, "populations"
            ),
            tier,
        ]
    )
    people = People(
        county=county,
        age=age,
        male=male,
        employee=employee,
        pre_code=np.where(has[:, 0], pre[:, 0], -1),
        cancer=cancer,
        chronic=chronic,
        assisted=tags[:, [POPULATIONS.index(t) for t in ASSISTED_TAGS]].any(axis=1),
        civil_servant=employee & (rng.random(n) < 0.08),
        enterprise_supp=employee & (rng.random(n) < 0.05),
    )
    return roster.with_columns(_phones(rng, age)), people


def _phones(rng: np.random.Generator, age: np.ndarray) -> pl.Series:
    """A mobile number for a share of the adults, null for the rest. Drawn after everything else, so the
    roster's other columns are what they were before phones were made."""
    n = len(age)
    has = (age >= PHONE_MIN_AGE) & (rng.random(n) < PHONE_SHARE)
    prefix = take_str(MOBILE_PREFIXES, np.where(has, rng.integers(0, len(MOBILE_PREFIXES), n), -1), "prefix")
    tail = pl.Series(rng.integers(0, 10**8, n)).cast(pl.Utf8).str.zfill(8)
    return (prefix + tail).alias("phone")


def _insured_since(start: np.datetime64, birth: np.ndarray) -> np.ndarray:
    """When each person's current basic-insurance status began: within the ten years before cover starts,
    spread without drawing from the generator (so settlements stay as they were), never before birth."""
    spread = (np.arange(birth.size, dtype=np.int64) * 7919) % 3650
    return np.maximum(start - 1 - spread, birth.astype("datetime64[D]")).astype("datetime64[D]")


def _tags(
    profile: CityProfile, rng: np.random.Generator, employee: np.ndarray, male: np.ndarray, age: np.ndarray
) -> np.ndarray:
    """(persons, len(POPULATIONS)) population tags: the profile's shares of residents (employees carry
    them at a fraction of that), veterans among men over 22."""
    n = len(employee)
    cols = []
    for tag in POPULATIONS:
        if tag == "veteran":
            cols.append(male & (age >= 22) & (rng.random(n) < profile.veteran_share))
        else:
            share = profile.resident_tags.get(tag, 0.0)
            cols.append(rng.random(n) < np.where(employee, share * profile.employee_tag_factor, share))
    return np.stack(cols, axis=1)


def _tiers(profile: CityProfile, rng: np.random.Generator, poverty: np.ndarray, preexisting: np.ndarray) -> pl.Series:
    """Null for a one-tier plan; else the profile's default-tier share, the rest spread over the others.

    People with a pre-existing condition take a later tier more often (the profile says how often), and
    people lifted out of poverty get the plan's poverty tier (Zibo: upgraded).
    """
    n = len(poverty)
    if len(profile.tiers) < 2:
        return pl.repeat(None, n, dtype=pl.Utf8, eager=True).alias("tier")
    others = len(profile.tiers) - 1
    upgrade = np.where(preexisting, max(profile.preexisting_upgrade, 1 - profile.default_tier_share), 0.0)
    stay = np.where(preexisting, 1 - upgrade, profile.default_tier_share)
    idx = np.where(rng.random(n) < stay, 0, 1 + rng.integers(0, others, n))
    if profile.poverty_tier in profile.tiers:
        idx = np.where(poverty, profile.tiers.index(profile.poverty_tier), idx)
    return take_str(profile.tiers, idx, "tier")


__all__ = ["People", "make_roster"]
