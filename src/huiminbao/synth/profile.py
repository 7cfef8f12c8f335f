"""What the synthetic city needs to know about a plan and its city.

From the plan file: region, year, cover period, tiers, catalogs. From the city's profile
(``profiles/<region_code>.yaml`` over ``profiles/default.yaml``): counties, nearby cities, what basic
insurance pays there, population tags, cost level, how people choose tiers (``plans: <plan id>:``
overrides any of these for one plan). A city without a profile gets the default rules and made-up
county codes, so a new plan file needs no code and no profile to be simulated.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from huiminbao.plans import compiled_plan
from huiminbao.plans.catalog import CatalogKind

PROFILE_DIR = Path(__file__).with_name("profiles")
LEVELS = ("township", "county", "tertiary")  # index = institutions.LEVEL_*


def _bp(value: str | float) -> int:
    """'60%' (or 0.6) as basis points."""
    if isinstance(value, str):
        return round(float(value.rstrip("%")) * 100)
    return round(float(value) * 10_000)


def _fen(yuan: float) -> int:
    return round(float(yuan) * 100)


@dataclass(frozen=True)
class BasicInsurance:
    """The city's basic insurance rules in fen and basis points; arrays are indexed by [employee, level]
    (row 0 resident, row 1 employee; level township, county, tertiary)."""

    inpatient_deductible: np.ndarray
    inpatient_bp: np.ndarray
    out_of_area_deductible: int
    out_of_area_cut_bp: tuple[int, int]  # filed, not filed
    chronic_bp: np.ndarray  # [employee]
    outpatient_bp: np.ndarray
    outpatient_pooled_share: float
    pooled_cap: int
    large_amount_bp: int
    large_amount_cap: int
    ci_threshold: int
    ci_bp: int
    ci_cap: int
    civil_servant_bp: int
    enterprise_bp: int
    assistance_bp: int
    assistance_share: float
    other_bp: int
    other_share: float
    personal_account_share: dict[str, float]

    @classmethod
    def from_data(cls, d: Mapping[str, Any]) -> BasicInsurance:
        inp, ooa = d["inpatient"], d["out_of_area"]

        def by_level(key: str, table: Mapping[str, Any], conv: Any) -> np.ndarray:
            return np.array([[conv(table[who][key][lv]) for lv in LEVELS] for who in ("resident", "employee")])

        out = d["outpatient_ratio"]
        return cls(
            inpatient_deductible=by_level("deductible", inp, _fen),
            inpatient_bp=by_level("ratio", inp, _bp),
            out_of_area_deductible=_fen(ooa["deductible"]),
            out_of_area_cut_bp=(_bp(ooa["ratio_cut_filed"]), _bp(ooa["ratio_cut_unfiled"])),
            chronic_bp=np.array([_bp(d["chronic_ratio"]["resident"]), _bp(d["chronic_ratio"]["employee"])]),
            outpatient_bp=np.array([[_bp(out[who][lv]) for lv in LEVELS] for who in ("resident", "employee")]),
            outpatient_pooled_share=float(d["outpatient_pooled_share"]),
            pooled_cap=_fen(d["pooled_cap"]),
            large_amount_bp=_bp(d["large_amount"]["ratio"]),
            large_amount_cap=_fen(d["large_amount"]["cap"]),
            ci_threshold=_fen(d["critical_illness"]["threshold"]),
            ci_bp=_bp(d["critical_illness"]["ratio"]),
            ci_cap=_fen(d["critical_illness"]["cap"]),
            civil_servant_bp=_bp(d["civil_servant_ratio"]),
            enterprise_bp=_bp(d["enterprise_ratio"]),
            assistance_bp=_bp(d["assistance"]["ratio"]),
            assistance_share=float(d["assistance"]["share"]),
            other_bp=_bp(d["other"]["ratio"]),
            other_share=float(d["other"]["share"]),
            personal_account_share={k: float(v) for k, v in d["personal_account_share"].items()},
        )


@dataclass(frozen=True)
class CityProfile:
    """A plan's city as the generator sees it."""

    plan_id: str
    city: str
    province: str
    region_code: str
    year: int
    cover_start: date
    cover_end: date
    counties: tuple[tuple[str, str], ...]  # (admdvs code, name); the first is the urban district
    insurance: BasicInsurance
    cost_level: float = 1.0
    enrollment_rate: float = 0.3  # share of the basic insured who buy the plan (the demo's policies)
    near_cities: tuple[tuple[str, str], ...] = ()  # same province, not this city
    far_cities: tuple[tuple[str, str], ...] = ()  # other provinces
    resident_tags: Mapping[str, float] = field(default_factory=dict)  # population tag -> share of residents
    employee_tag_factor: float = 0.15
    veteran_share: float = 0.026  # of men over 22
    employee_share: Mapping[str, float] = field(default_factory=dict)  # adult, retired
    default_tier_share: float = 0.7
    preexisting_upgrade: float = 0.3
    tiers: tuple[str, ...] = ()  # first is the default
    poverty_tier: str | None = None  # tier people lifted out of poverty get
    drug_catalogs: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    drug_catalog_shares: Mapping[str, float] = field(default_factory=dict)  # catalog id -> share of drug patients
    # institution catalogs of the plan (e.g. county-level prescribers, designated pharmacies): (code, name)
    institution_catalogs: Mapping[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)
    sources: tuple[str, ...] = ()  # the profile files read, most specific last


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, Mapping) and isinstance(out.get(k), dict) else v
    return out


@cache
def _read(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}


def profile_data(region_code: str, plan_id: str) -> tuple[dict[str, Any], tuple[str, ...]]:
    """The default profile, the city's over it, the plan's section over both; and the files read."""
    data, files = _read(PROFILE_DIR / "default.yaml"), ["default.yaml"]
    city = PROFILE_DIR / f"{region_code}.yaml"
    if city.exists():
        data = _merge(data, _read(city))
        files.append(city.name)
    return _merge(data, data.get("plans", {}).get(plan_id, {})), tuple(files)


def counties_for(region_code: str, city: str) -> tuple[tuple[str, str], ...]:
    """Made-up county codes for a city without a profile."""
    suffixes = ("02", "03", "21", "22", "23", "81")
    return tuple((region_code[:4] + s, f"{city}第{i + 1}区") for i, s in enumerate(suffixes))


def _pairs(rows: Sequence[Sequence[Any]]) -> tuple[tuple[str, str], ...]:
    return tuple((str(code), str(name)) for code, name in rows)


def _plan_catalogs(plan_id: str) -> tuple[dict[str, tuple[str, ...]], dict[str, tuple[tuple[str, str], ...]]]:
    """The plan's drug catalogs (codes) and institution catalogs ((code, name) pairs)."""
    compiled = compiled_plan(plan_id)
    drugs: dict[str, tuple[str, ...]] = {}
    institutions: dict[str, tuple[tuple[str, str], ...]] = {}
    for cid, cat in compiled.catalog_files.items():
        entries = tuple((e.code, e.name or e.code) for e in cat.entries)
        if cat.kind is CatalogKind.DRUG:
            drugs[cid] = tuple(c for c, _ in entries)
        elif cat.kind is CatalogKind.INSTITUTION:
            institutions[cid] = entries
    return drugs, institutions


def drug_code_weights(profile: CityProfile, drugs: Mapping[str, Sequence[str]]) -> np.ndarray:
    """Probability of each drug code (catalogs in order) for a person on a high-cost drug: a catalog's
    share from the profile, else its share of all codes; split evenly over its codes."""
    total = sum(len(codes) for codes in drugs.values())
    weights = []
    for cid, codes in drugs.items():
        share = profile.drug_catalog_shares.get(cid, len(codes) / total)
        weights += [share / len(codes)] * len(codes)
    w = np.array(weights, dtype=float)
    return w / w.sum() if len(w) else w


def city_profile(plan_id: str, drug_catalogs: Mapping[str, Sequence[str]] | None = None) -> CityProfile:
    """The plan's city. ``drug_catalogs`` (catalog name -> drug codes) overrides the plan's drug catalogs.

    An unknown plan id raises the plan loader's ``PlanNotFound`` (a ``KeyError``).
    """
    plan = compiled_plan(plan_id).plan
    data, files = profile_data(plan.region_code, plan_id)
    tiers = tuple(t.id for t in plan.tiers)
    default = getattr(plan, "default_tier", None)
    if default in tiers:
        tiers = (default, *[t for t in tiers if t != default])
    poverty = next((t.id for t in plan.tiers if "poverty" in (t.assign or "")), None)
    drugs, institutions = _plan_catalogs(plan_id)
    prov = plan.region_code[:2]
    pops = data["populations"]
    profile = CityProfile(
        plan_id=plan_id,
        city=plan.city,
        province=plan.province,
        region_code=plan.region_code,
        year=plan.year,
        cover_start=plan.cover_start,
        cover_end=plan.cover_end,
        counties=_pairs(data["counties"]) if "counties" in data else counties_for(plan.region_code, plan.city),
        insurance=BasicInsurance.from_data(data["basic_insurance"]),
        cost_level=float(data["cost_level"]),
        enrollment_rate=float(data["enrollment_rate"]),
        near_cities=tuple(c for c in _pairs(data.get("province_cities", [])) if c[0][:4] != plan.region_code[:4]),
        far_cities=tuple(c for c in _pairs(data["far_cities"]) if c[0][:2] != prov),
        resident_tags={k: float(v) for k, v in pops["residents"].items()},
        employee_tag_factor=float(pops["employee_factor"]),
        veteran_share=float(pops["veteran_men_over_22"]),
        employee_share={k: float(v) for k, v in data["employee_share"].items()},
        default_tier_share=float(data["tier_choice"]["default_share"]),
        preexisting_upgrade=float(data["tier_choice"]["preexisting_upgrade"]),
        tiers=tiers if len(tiers) > 1 else (),
        poverty_tier=(poverty or tiers[-1]) if len(tiers) > 1 else None,
        drug_catalogs=drugs,
        drug_catalog_shares={k: float(v) for k, v in data["drug_catalog_shares"].items()},
        institution_catalogs=institutions,
        sources=files,
    )
    if drug_catalogs is not None:
        profile = replace(profile, drug_catalogs={k: tuple(v) for k, v in drug_catalogs.items() if len(v)})
    return profile


__all__ = [
    "LEVELS",
    "BasicInsurance",
    "CityProfile",
    "city_profile",
    "counties_for",
    "drug_code_weights",
    "profile_data",
]
