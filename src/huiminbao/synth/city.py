"""``generate_city``: a plan's synthetic city as polars frames (money in int64 fen).

Two random streams (roster, settlements) spawned from the seed; fee lines draw from
a counter-based hash of the seed instead, so the roster and settlements are the same
whether or not fee lines are made.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import polars as pl

from huiminbao.synth import calibration as K
from huiminbao.synth.institutions import make_institutions
from huiminbao.synth.profile import city_profile, drug_code_weights
from huiminbao.synth.roster import make_roster
from huiminbao.synth.settlements import make_settlements
from huiminbao.synth.visits import draw_visits, expected_records
from huiminbao.synth.vocab import default_drug_catalogs
from huiminbao.vocabulary import INSURED_SCHEMA

GENERATOR_VERSION = 3  # 3: rates per person and city profiles (2: the first calibration; 1: uncalibrated)


@dataclass(frozen=True)
class City:
    """Frames of one synthetic city-year; money columns are int64 fen (vocabulary.py).

    ``manifest`` says what was generated from what (plan, seed, drug catalogs, timings);
    counts and control totals are computed from the frames when written, so a City
    built from filtered frames (a sample of persons) writes a true manifest too.
    """

    roster: pl.DataFrame
    settlements: pl.DataFrame
    fee_lines: pl.DataFrame | None
    institutions: pl.DataFrame
    manifest: dict[str, Any] = field(default_factory=dict)

    @property
    def insured(self) -> pl.DataFrame:
        """The roster in the engine's INSURED_SCHEMA."""
        return self.roster.select(list(INSURED_SCHEMA))

    @property
    def seed(self) -> int | None:
        return self.manifest.get("seed")

    @property
    def timings(self) -> dict[str, float]:
        return dict(self.manifest.get("timings_seconds", {}))

    @property
    def drug_catalogs(self) -> dict[str, tuple[str, ...]]:
        return {k: tuple(v) for k, v in self.manifest.get("drug_catalogs", {}).items()}


@dataclass(frozen=True)
class Part:
    """Part ``index`` of ``count`` of a city generated in parts, and where its numbering starts: each
    part is a city of its own persons (all their records), so ids must not meet across parts."""

    index: int
    count: int
    first_person: int
    first_record: int


def generate_city(
    plan_id: str,
    persons: int,
    seed: int = 1,
    *,
    records: int | None = None,
    records_per_person: float | None = None,
    fee_lines: bool = True,
    drug_catalogs: Mapping[str, Sequence[str]] | None = None,
    refund_share: float = K.REFUND_SHARE,
    part: Part | None = None,
) -> City:
    """Generate ``persons`` insured people and a year of their settlements for ``plan_id``.

    ``records`` (or ``persons * records_per_person``) counts settlements including refunds; by default
    the year has as many as the calibrated rates give (about 4-5 a person). Stays, chronic-disease
    visits and high-cost drug purchases follow the rates whatever the count; ordinary outpatient visits
    and pharmacy purchases fill the rest. ``drug_catalogs`` maps a catalog name to drug codes for
    high-cost drug lines; default: the plan's drug catalogs, else synthetic codes. Deterministic for a
    given seed and arguments. An unknown plan raises ``PlanNotFound`` (a ``KeyError``).
    """
    if persons < 1:
        raise ValueError(f"参保人数须为正整数，收到 {persons}")
    if records is not None and records < 0:
        raise ValueError(f"结算记录数不能为负，收到 {records}")
    if records_per_person is not None and records_per_person < 0:
        raise ValueError(f"人均结算记录数不能为负，收到 {records_per_person}")
    if not 0 <= refund_share < 1:
        raise ValueError(f"退费比例须在 0 与 1 之间，收到 {refund_share}")
    t0 = time.perf_counter()
    profile = city_profile(plan_id, drug_catalogs)
    drugs = dict(profile.drug_catalogs) or default_drug_catalogs()
    drug_codes = [c for codes in drugs.values() for c in codes]
    ss_roster, ss_settle = np.random.SeedSequence(seed).spawn(2)
    timings: dict[str, float] = {}

    where = part or Part(0, 1, 0, 0)
    roster, people = make_roster(
        profile, persons, np.random.default_rng(ss_roster), first=where.first_person, slot=(where.index, where.count)
    )
    inst = make_institutions(profile)
    if records is not None:
        n_records = records
    elif records_per_person is not None:
        n_records = round(persons * records_per_person)
    else:
        n_records = round(expected_records(people) / (1 - refund_share))
    n_refunds = round(n_records * refund_share)
    timings["roster"] = time.perf_counter() - t0
    rng = np.random.default_rng(ss_settle)
    visits = draw_visits(rng, people, n_records - n_refunds, drug_code_weights(profile, drugs))
    settlements, lines = make_settlements(
        rng,
        profile,
        people,
        roster,
        inst,
        visits,
        drug_codes,
        seed=seed,
        n_refunds=n_refunds,
        fee_lines=fee_lines,
        first=where.first_record,
    )
    timings["settlements"] = time.perf_counter() - t0 - timings["roster"]
    timings["total"] = time.perf_counter() - t0
    manifest = {
        "generator": "huiminbao.synth",
        "generator_version": GENERATOR_VERSION,
        "plan_id": profile.plan_id,
        "city": profile.city,
        "province": profile.province,
        "region_code": profile.region_code,
        "year": profile.year,
        "cover": [profile.cover_start.isoformat(), profile.cover_end.isoformat()],
        "tiers": list(profile.tiers),
        "profile_files": list(profile.sources),
        "seed": seed,
        "persons": persons,
        "records": n_records,
        "refund_share": refund_share,
        # False when fewer records were asked for than the calibrated rates need: a random subset of
        # the year's stays and visits was kept, so payouts are lower than the rates would give.
        "calibrated": not visits.thinned,
        "fee_lines": fee_lines,
        "drug_catalogs": {k: list(v) for k, v in drugs.items()},
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "timings_seconds": {k: round(v, 3) for k, v in timings.items()},
    }
    return City(roster=roster, settlements=settlements, fee_lines=lines, institutions=inst.frame, manifest=manifest)


PART_PERSONS = 2_000_000  # persons generated at a time: about 10 M records, 5 GB at the peak


def generate_parts(
    plan_id: str,
    persons: int,
    seed: int = 1,
    *,
    records: int | None = None,
    records_per_person: float | None = None,
    fee_lines: bool = True,
    part_persons: int = PART_PERSONS,
) -> Iterator[City]:
    """A city too large to hold in memory (a province, a nation), one part of its persons at a time:
    each part is generated when the previous one has been used (written), so memory holds one part.

    Up to ``part_persons`` persons it is exactly ``generate_city``; above, part k has its own seed
    (from ``seed`` and k), its share of the persons and records, and numbering that continues the
    previous parts' (``psn_no``, ``setl_id``; ID numbers drawn from slots of their own)."""
    count = max(1, math.ceil(persons / part_persons))
    options: dict[str, Any] = {"records_per_person": records_per_person, "fee_lines": fee_lines}
    if count == 1:
        yield generate_city(plan_id, persons, seed, records=records, **options)
        return
    first_person = first_record = 0
    for k in range(count):
        n = persons * (k + 1) // count - persons * k // count
        r = None if records is None else records * (k + 1) // count - records * k // count
        own_seed = int(np.random.SeedSequence([seed, k]).generate_state(1)[0])
        city = generate_city(
            plan_id, n, own_seed, records=r, part=Part(k, count, first_person, first_record), **options
        )
        yield dataclasses.replace(city, manifest={**city.manifest, "seed": seed, "part": [k, count]})
        first_person += n
        first_record += city.settlements.height


__all__ = ["GENERATOR_VERSION", "PART_PERSONS", "City", "Part", "generate_city", "generate_parts"]
