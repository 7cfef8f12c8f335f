"""Designated institutions (定点医药机构) of the city and a few outside it.

The levels matter to the plans: specific high-cost drugs count only at county-level
or higher institutions, special drugs at designated pharmacies, and out-of-area care
depends on where the hospital is. Codes follow the national pattern: ``H``/``P``,
the 6-digit area code, a 5-digit serial.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from huiminbao.synth import vocab
from huiminbao.synth.profile import CityProfile

TOWNSHIPS_PER_COUNTY = 6
RETAIL_PER_COUNTY = 2
RETAIL_SERIAL = 100  # retail pharmacies' serials start above this
LEVEL_TOWNSHIP, LEVEL_COUNTY, LEVEL_TERTIARY, LEVEL_PHARMACY = 0, 1, 2, 3


@dataclass(frozen=True)
class Institutions:
    """The institutions frame plus index tables the settlement generator draws from."""

    frame: pl.DataFrame
    level: np.ndarray  # LEVEL_* per institution
    township: np.ndarray  # (counties, TOWNSHIPS_PER_COUNTY) institution indexes
    county: np.ndarray  # (counties, 2): people's hospital, TCM hospital
    tertiary: np.ndarray  # city-level tertiary hospitals
    pharmacy: np.ndarray  # designated special-drug (DTP) pharmacies
    retail: np.ndarray  # (counties, RETAIL_PER_COUNTY): designated retail pharmacies (定点零售药店)
    near: np.ndarray  # (cities, 2): hospitals elsewhere in the province
    far: np.ndarray  # (cities, 2): hospitals in other provinces


def make_institutions(profile: CityProfile) -> Institutions:
    """A fixed, seed-independent institution list for the plan's city.

    Catalog institutions the plan names but the generated list lacks are added, so
    their codes resolve; designated pharmacies among them dispense high-cost drugs.
    """
    rows: list[tuple[str, str, str, str, bool, str, bool, int]] = []
    serial: dict[str, int] = {}

    def add(kind: str, admdvs: str, name: str, lv: str, county_up: bool, in_city: bool, level: int) -> int:
        serial[kind + admdvs] = serial.get(kind + admdvs, 0) + 1
        first = RETAIL_SERIAL if kind == "retail" else 0  # retail pharmacies never take a special-drug code
        code = f"{'H' if kind == 'hospital' else 'P'}{admdvs}{first + serial[kind + admdvs]:05d}"
        rows.append(
            (code, name, admdvs, lv, county_up, "hospital" if kind == "hospital" else "pharmacy", in_city, level)
        )
        return len(rows) - 1

    city, urban = profile.city, profile.counties[0][0]
    tertiary = [
        add("hospital", urban, f"{city}{n}", "三级", True, True, LEVEL_TERTIARY)
        for n in ("人民医院", "中医医院", "第二人民医院")
    ]
    pharmacy = [
        add("pharmacy", urban, f"{b}大药房（{city}特药店）", "", False, True, LEVEL_PHARMACY)
        for b in vocab.PHARMACY_BRANDS[:3]
    ]
    county, township, retail = [], [], []
    for i, (code, name) in enumerate(profile.counties):
        county.append(
            [
                add("hospital", code, f"{name}人民医院", "二级", True, True, LEVEL_COUNTY),
                add("hospital", code, f"{name}中医医院", "二级", True, True, LEVEL_COUNTY),
            ]
        )
        towns = [vocab.TOWNS[(i + j) % len(vocab.TOWNS)] for j in range(TOWNSHIPS_PER_COUNTY)]
        township.append(
            [add("hospital", code, f"{name}{t}镇卫生院", "一级", False, True, LEVEL_TOWNSHIP) for t in towns]
        )
        brands = [vocab.PHARMACY_BRANDS[(i + j) % len(vocab.PHARMACY_BRANDS)] for j in range(RETAIL_PER_COUNTY)]
        retail.append([add("retail", code, f"{b}大药房（{name}店）", "", False, True, LEVEL_PHARMACY) for b in brands])
    outside = []
    for cities in (profile.near_cities, profile.far_cities):
        outside.append(
            [
                [
                    add("hospital", code, f"{name}{n}", "三级", True, False, LEVEL_TERTIARY)
                    for n in ("第一人民医院", "医科大学附属医院")
                ]
                for code, name in cities
            ]
        )
    # Institutions the plan's catalogs name (prescribers, designated pharmacies) must exist too.
    known = {r[0] for r in rows}
    for entries in profile.institution_catalogs.values():
        for code, name in entries:
            if code in known or len(code) < 7:
                continue
            known.add(code)
            in_city = code[1:5] == profile.region_code[:4]
            if code.startswith("P"):
                rows.append((code, name, code[1:7], "", False, "pharmacy", in_city, LEVEL_PHARMACY))
                if in_city:
                    pharmacy.append(len(rows) - 1)
            else:
                rows.append((code, name, code[1:7], "二级", True, "hospital", in_city, LEVEL_COUNTY))
    cols = list(zip(*rows, strict=True))
    frame = pl.DataFrame(
        {
            "fixmedins_code": cols[0],
            "fixmedins_name": cols[1],
            "admdvs": cols[2],
            "hosp_lv": cols[3],
            "county_or_higher": cols[4],
            "kind": cols[5],
            "in_city": cols[6],
        },
        schema_overrides={"county_or_higher": pl.Boolean, "in_city": pl.Boolean},
    )
    return Institutions(
        frame=frame,
        level=np.array(cols[7]),
        township=np.array(township),
        county=np.array(county),
        tertiary=np.array(tertiary),
        pharmacy=np.array(pharmacy),
        retail=np.array(retail),
        near=np.array(outside[0]),
        far=np.array(outside[1]),
    )


__all__ = ["Institutions", "make_institutions"]
