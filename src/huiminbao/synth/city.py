"""``generate_city``: a plan's synthetic city as polars frames (money in int64 fen).

Two random streams (roster, settlements) spawned from the seed; fee lines draw from
a counter-based hash of the seed instead, so the roster and settlements are the same
whether or not fee lines are made.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import polars as pl

from huiminbao.synth.institutions import make_institutions
from huiminbao.synth.profile import city_profile
from huiminbao.synth.roster import make_roster
from huiminbao.synth.settlements import make_settlements
from huiminbao.synth.vocab import default_drug_catalogs
from huiminbao.vocabulary import INSURED_SCHEMA

DEFAULT_RECORDS_PER_PERSON = 5.0
GENERATOR_VERSION = 2  # 2: calibrated to published incidence and loss ratios; critical-illness scope, prescribers


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


def generate_city(
    plan_id: str,
    persons: int,
    seed: int = 1,
    *,
    records: int | None = None,
    records_per_person: float = DEFAULT_RECORDS_PER_PERSON,
    fee_lines: bool = True,
    drug_catalogs: Mapping[str, Sequence[str]] | None = None,
    refund_share: float = 0.02,
) -> City:
    """Generate ``persons`` insured people and a year of their settlements for ``plan_id``.

    ``records`` (default ``persons * records_per_person``) counts settlements including
    refunds. ``drug_catalogs`` maps a catalog name to drug codes for high-cost drug
    lines; default: the plan's drug catalogs, else synthetic codes. Deterministic for
    a given seed and arguments.
    """
    if persons < 1:
        raise ValueError("persons must be at least 1")
    t0 = time.perf_counter()
    profile = city_profile(plan_id, drug_catalogs)
    drugs = dict(profile.drug_catalogs) or default_drug_catalogs()
    drug_codes = [c for codes in drugs.values() for c in codes]
    n_records = round(persons * records_per_person) if records is None else records
    ss_roster, ss_settle = np.random.SeedSequence(seed).spawn(2)
    timings: dict[str, float] = {}

    roster, people = make_roster(profile, persons, np.random.default_rng(ss_roster))
    inst = make_institutions(profile)
    timings["roster"] = time.perf_counter() - t0
    settlements, lines = make_settlements(
        np.random.default_rng(ss_settle),
        profile,
        people,
        roster,
        inst,
        n_records,
        drug_codes,
        seed=seed,
        fee_lines=fee_lines,
        refund_share=refund_share,
    )
    timings["settlements"] = time.perf_counter() - t0 - timings["roster"]
    timings["total"] = time.perf_counter() - t0
    manifest = {
        "generator": "huiminbao.synth",
        "generator_version": GENERATOR_VERSION,
        "plan_id": profile.plan_id,
        "plan_source": profile.source,
        "city": profile.city,
        "province": profile.province,
        "region_code": profile.region_code,
        "year": profile.year,
        "cover": [profile.cover_start.isoformat(), profile.cover_end.isoformat()],
        "tiers": list(profile.tiers),
        "seed": seed,
        "persons": persons,
        "records": n_records,
        "refund_share": refund_share,
        "fee_lines": fee_lines,
        "drug_catalogs": {k: list(v) for k, v in drugs.items()},
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "timings_seconds": {k: round(v, 3) for k, v in timings.items()},
    }
    return City(roster=roster, settlements=settlements, fee_lines=lines, institutions=inst.frame, manifest=manifest)


__all__ = ["GENERATOR_VERSION", "City", "generate_city"]
