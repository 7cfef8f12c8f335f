"""What the synthetic city needs to know about a plan: its region, year, tiers, catalogs.

Read from the plan file (``huiminbao.plans.load_plan``) when it loads; a small built-in
table of the seed cities keeps the generator usable when the plan module or a plan
file is missing. County codes come from the national division code table
(GB/T 2260) for the seed cities and are made up for any other city.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any


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
    tiers: tuple[str, ...] = ()  # first is the default
    poverty_tier: str | None = None  # tier people lifted out of poverty get
    drug_catalogs: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # institution catalogs of the plan (e.g. county-level prescribers, designated pharmacies): (code, name)
    institution_catalogs: Mapping[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)
    source: str = "builtin"  # "plan" when read from the plan file
    cost_level: float = 1.0  # the province's medical costs against the national average


# Average inpatient cost by province against the national average (国家卫生健康委《中国卫生健康统计年鉴》,
# 次均住院费用: Zhejiang about a quarter above the national figure, Shandong about at it; approximate).
COST_LEVEL: dict[str, float] = {"33": 1.25, "37": 1.0}


COUNTIES: dict[str, tuple[tuple[str, str], ...]] = {
    "371500": (
        ("371502", "东昌府区"),
        ("371503", "茌平区"),
        ("371521", "阳谷县"),
        ("371522", "莘县"),
        ("371524", "东阿县"),
        ("371525", "冠县"),
        ("371526", "高唐县"),
        ("371581", "临清市"),
    ),
    "330800": (
        ("330802", "柯城区"),
        ("330803", "衢江区"),
        ("330822", "常山县"),
        ("330824", "开化县"),
        ("330825", "龙游县"),
        ("330881", "江山市"),
    ),
    "370300": (
        ("370303", "张店区"),
        ("370302", "淄川区"),
        ("370304", "博山区"),
        ("370305", "临淄区"),
        ("370306", "周村区"),
        ("370321", "桓台县"),
        ("370322", "高青县"),
        ("370323", "沂源县"),
    ),
}

# Other cities, for out-of-area care: (admdvs, name).
CITIES_BY_PROVINCE: dict[str, tuple[tuple[str, str], ...]] = {
    "37": (
        ("370100", "济南市"),
        ("370200", "青岛市"),
        ("370300", "淄博市"),
        ("370600", "烟台市"),
        ("370700", "潍坊市"),
        ("370800", "济宁市"),
        ("371400", "德州市"),
        ("371500", "聊城市"),
    ),
    "33": (
        ("330100", "杭州市"),
        ("330200", "宁波市"),
        ("330300", "温州市"),
        ("330600", "绍兴市"),
        ("330700", "金华市"),
        ("330800", "衢州市"),
        ("331000", "台州市"),
    ),
}
FAR_CITIES: tuple[tuple[str, str], ...] = (
    ("110100", "北京市"),
    ("310100", "上海市"),
    ("320100", "南京市"),
    ("410100", "郑州市"),
    ("130100", "石家庄市"),
    ("440100", "广州市"),
    ("330100", "杭州市"),
    ("370100", "济南市"),
)

_BUILTIN: dict[str, dict[str, Any]] = {
    "liaocheng-2022": {"city": "聊城市", "province": "山东省", "region": "371500", "year": 2022},
    "liaocheng-2024": {"city": "聊城市", "province": "山东省", "region": "371500", "year": 2024},
    "liaocheng-2025": {"city": "聊城市", "province": "山东省", "region": "371500", "year": 2025},
    "quzhou-2021": {"city": "衢州市", "province": "浙江省", "region": "330800", "year": 2021},
    "zibo-2022": {
        "city": "淄博市",
        "province": "山东省",
        "region": "370300",
        "year": 2022,
        "tiers": ("basic", "upgraded"),
        "poverty_tier": "upgraded",
    },
}


def counties_for(region_code: str, city: str) -> tuple[tuple[str, str], ...]:
    """The city's county codes: real ones for the seed cities, made-up ones otherwise."""
    if region_code in COUNTIES:
        return COUNTIES[region_code]
    return tuple(
        (region_code[:4] + s, f"{city}第{i + 1}区") for i, s in enumerate(("02", "03", "21", "22", "23", "81"))
    )


def other_cities(region_code: str) -> tuple[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]]:
    """Cities of the same province and of other provinces, excluding the plan's own city."""
    prov = region_code[:2]
    near = CITIES_BY_PROVINCE.get(prov) or tuple((f"{prov}{i:02d}00", f"{prov}省第{i}市") for i in range(1, 7))
    near = tuple(c for c in near if c[0][:4] != region_code[:4])
    far = tuple(c for c in FAR_CITIES if c[0][:2] != prov)
    return near, far


def _from_plan(plan: Any, plan_id: str) -> CityProfile:
    tiers = tuple(t.id for t in plan.tiers)
    default = getattr(plan, "default_tier", None)
    if default in tiers:
        tiers = (default, *[t for t in tiers if t != default])
    poverty = next((t.id for t in plan.tiers if "poverty" in (getattr(t, "assign", None) or "")), None)
    if poverty is None and len(tiers) > 1:
        poverty = tiers[-1]
    drugs, institutions = _plan_catalogs(plan, plan_id)
    return CityProfile(
        plan_id=plan_id,
        city=plan.city,
        province=getattr(plan, "province", ""),
        region_code=plan.region_code,
        year=plan.year,
        cover_start=plan.cover_start,
        cover_end=plan.cover_end,
        counties=counties_for(plan.region_code, plan.city),
        tiers=tiers if len(tiers) > 1 else (),
        poverty_tier=poverty if len(tiers) > 1 else None,
        drug_catalogs=drugs,
        institution_catalogs=institutions,
        source="plan",
        cost_level=COST_LEVEL.get(plan.region_code[:2], 1.0),
    )


def _plan_catalogs(plan: Any, plan_id: str) -> tuple[dict[str, tuple[str, ...]], dict[str, Any]]:
    """The plan's drug catalogs (codes) and institution catalogs ((code, name) pairs).

    Catalog kinds come from the loaded catalog files when the loader offers them; else a
    catalog whose id mentions "drug" is taken for a drug catalog.
    """
    drugs: dict[str, tuple[str, ...]] = {}
    institutions: dict[str, tuple[tuple[str, str], ...]] = {}
    try:
        from huiminbao.plans.loader import compiled_plan

        files = compiled_plan(plan_id).catalog_files
    except Exception:  # an older loader, or a plan object without files: fall back to ids
        files = None
    for cid in getattr(plan, "catalogs", {}) or {}:
        if files is not None and cid in files:
            kind = str(getattr(files[cid], "kind", ""))
            entries = tuple((e.code, e.name or e.code) for e in files[cid].entries)
            if kind == "drug":
                drugs[cid] = tuple(c for c, _ in entries)
            elif kind == "institution":
                institutions[cid] = entries
        elif "drug" in cid and hasattr(plan, "catalog_codes"):
            drugs[cid] = tuple(plan.catalog_codes(cid))
    return {k: v for k, v in drugs.items() if v}, institutions


def _builtin(plan_id: str) -> CityProfile:
    b = _BUILTIN[plan_id]
    year = b["year"]
    return CityProfile(
        plan_id=plan_id,
        city=b["city"],
        province=b["province"],
        region_code=b["region"],
        year=year,
        cover_start=date(year, 1, 1),
        cover_end=date(year, 12, 31),
        counties=counties_for(b["region"], b["city"]),
        tiers=b.get("tiers", ()),
        poverty_tier=b.get("poverty_tier"),
        cost_level=COST_LEVEL.get(b["region"][:2], 1.0),
    )


def city_profile(plan_id: str, drug_catalogs: Mapping[str, Sequence[str]] | None = None) -> CityProfile:
    """The plan's city: from the plan file if it loads, else from the built-in table.

    ``drug_catalogs`` (catalog name -> drug codes) overrides the plan's drug catalogs.
    A plan id unknown to both raises the plan loader's error (or ``KeyError``).
    """
    profile: CityProfile | None = None
    error: Exception | None = None
    try:
        from huiminbao.plans import load_plan  # type: ignore[attr-defined]
    except ImportError as exc:
        error = exc
    else:
        try:
            profile = _from_plan(load_plan(plan_id), plan_id)
        except Exception as exc:  # a plan file not written yet: the built-in table may know it
            if plan_id not in _BUILTIN:
                raise
            error = exc
    if profile is None:
        if plan_id not in _BUILTIN:
            raise KeyError(f"unknown plan {plan_id!r} (built-in: {', '.join(sorted(_BUILTIN))})") from error
        profile = _builtin(plan_id)
    if drug_catalogs is not None:
        cats = {k: tuple(v) for k, v in drug_catalogs.items() if len(v)}
        profile = replace(profile, drug_catalogs=cats)
    return profile


__all__ = ["CityProfile", "city_profile", "counties_for", "other_cities"]
