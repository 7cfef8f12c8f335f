"""A year of settlement records (setlinfo) for the roster: visits, costs, funds, refunds.

Visits are drawn per person, put in settlement-time order, and refunds (later,
negated copies of earlier originals) are merged into that order, which fixes every
record's row before any amount is drawn. Rows are then generated in chunks: each
chunk's originals get their amounts, its refunds copy an original's values (kept
aside when the original was made) negated, and the chunk becomes small polars
frames of settlements and fee lines. Working in chunks keeps temporaries in cache and
never holds a whole-city numpy copy of a column besides the frames themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import polars as pl

from huiminbao.synth import calibration as K
from huiminbao.synth import vocab
from huiminbao.synth.amounts import (
    DRUG_CLASS_B,
    DRUG_SELF_PAID,
    Buckets,
    Payer,
    YearToDate,
    make_buckets,
    pay_funds,
    totals,
)
from huiminbao.synth.arrays import fixed_ids, lists_from_matrix, take_str, yuan_fen
from huiminbao.synth.fees import ItemCatalog
from huiminbao.synth.fees import fee_lines as make_fee_lines
from huiminbao.synth.institutions import LEVEL_PHARMACY, Institutions
from huiminbao.synth.profile import LEVELS, CityProfile
from huiminbao.synth.roster import People
from huiminbao.synth.visits import CHRONIC, INPATIENT, MED_TYPES, OUTPATIENT, PHARMACY, Visits
from huiminbao.vocabulary import FEE_LINE_SCHEMA, OPTIONAL_AMOUNTS, SETTLEMENT_AMOUNTS, SETTLEMENT_SCHEMA

US_PER_DAY = 86_400_000_000
SETL_KIND, MDTRT_KIND = 10**9, 2 * 10**9  # id sentinels: kind digit then 9 digits
CHUNK = 1 << 17
BUCKET_FIELDS = ("a_in", "a_over", "b_pre", "b_in", "b_over", "s_ful", "d_amt", "d_lv", "d_code")
DIAG_WORDS = list(
    dict.fromkeys(
        [c for c, _, _ in vocab.PREEXISTING]
        + vocab.DIAG_OUTPATIENT
        + vocab.DIAG_CHRONIC
        + vocab.DIAG_INPATIENT
        + vocab.DIAG_SEVERE
        + vocab.DIAG_SECONDARY
    )
)  # pre-existing codes first, so a person's condition index is its diagnosis index
_POOLS = {
    name: np.array([DIAG_WORDS.index(c) for c in getattr(vocab, name)], dtype=np.int16)
    for name in ("DIAG_OUTPATIENT", "DIAG_CHRONIC", "DIAG_INPATIENT", "DIAG_SEVERE", "DIAG_SECONDARY")
}


@dataclass(frozen=True)
class _Ctx:
    people: People
    inst: Institutions
    profile: CityProfile
    ytd: YearToDate
    drug_code: np.ndarray  # per person (visits.Visits)
    drug_class_b: np.ndarray
    cover_start_day: int


def _institution(
    rng: np.random.Generator, c: _Ctx, v: dict[str, np.ndarray], out_area: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Where each visit happened, and who prescribed a pharmacy purchase (-1: not a pharmacy purchase)."""
    kind, psn, severe, drug = v["kind"], v["psn"], v["severe"], v["drug"]
    n, inst = len(kind), c.inst
    cty = np.where(rng.random(n) < 0.9, c.people.county[psn], rng.integers(0, inst.county.shape[0], n))
    u = rng.random(n)
    stay = np.digitize(u, np.cumsum(K.STAY_LEVEL_SHARES)[:2])
    cat = np.select(
        [kind == OUTPATIENT, kind == CHRONIC, severe | (drug & (kind == INPATIENT))],
        [np.digitize(u, [0.45, 0.80]), np.where(u < 0.5, 1, 2), np.where(u < K.SEVERE_AT_TERTIARY, 2, 1)],
        stay,
    )
    j = rng.integers(0, 1 << 30, n)
    township = inst.township[cty, j % inst.township.shape[1]]
    county = inst.county[cty, j % inst.county.shape[1]]
    tertiary = inst.tertiary[j % len(inst.tertiary)]
    hospital = np.select([cat == 0, cat == 1], [township, county], tertiary)
    for area, table in ((1, inst.near), (2, inst.far)):
        sel = out_area == area
        if len(table) and sel.any():
            m = int(sel.sum())
            hospital[sel] = table[rng.integers(0, len(table), m), rng.integers(0, 2, m)]
    shop = kind == PHARMACY
    pharmacy = np.where(
        drug,
        inst.pharmacy[j % len(inst.pharmacy)],
        inst.retail[cty, j % inst.retail.shape[1]],
    )
    # High-cost drugs are prescribed by oncology and specialist departments: the city's tertiary
    # hospitals or a county's people's hospital; everyday prescriptions by any county hospital.
    u_rx = rng.random(n)
    people_hospital = inst.county[cty, 0]
    county_up = np.where(drug, np.where(u_rx < K.PRESCRIBER_TERTIARY, tertiary, people_hospital), county)
    county_up = np.where(~drug & (u_rx < 0.3), tertiary, county_up)
    rx_up = rng.random(n) < np.where(drug, K.PRESCRIBER_COUNTY_OR_HIGHER, 0.5)
    rx = np.where(shop, np.where(rx_up, county_up, township), -1)
    return np.where(shop, pharmacy, hospital), rx


def _body_cost(rng: np.random.Generator, v: dict[str, np.ndarray], level: np.ndarray, cost_level: float) -> np.ndarray:
    """Cost of everything but the drug line, fen: lognormal bodies by kind and level, a serious illness's
    stay (now and then a catastrophic Pareto amount), a small visit around a high-cost drug purchase
    (none at a pharmacy)."""
    kind, severe, drug = v["kind"], v["severe"], v["drug"]
    n = len(kind)
    lv = np.minimum(level, 2)
    stay_mu = np.log(np.array([K.STAY_MEDIAN[x] for x in LEVELS]))[lv]
    stay_sigma = np.array([K.STAY_SIGMA[x] for x in LEVELS])[lv]
    visit = np.array([0.5, 1.0, 1.4])[lv]  # outpatient cost by level
    mu = np.select(
        [kind == OUTPATIENT, kind == CHRONIC, kind == PHARMACY],
        [np.log(K.OUTPATIENT_MEDIAN * visit), np.log(K.CHRONIC_MEDIAN * visit), np.log(K.PHARMACY_MEDIAN)],
        stay_mu,
    )
    sigma = np.select([kind == OUTPATIENT, kind == CHRONIC, kind == PHARMACY], [0.9, 0.8, 0.8], stay_sigma)
    yuan = np.maximum(np.exp(mu + sigma * rng.standard_normal(n)), 5.0)
    d = np.flatnonzero(drug)
    around_drug = np.select([kind[d] == PHARMACY, kind[d] == CHRONIC], [0.0, 300.0], 3000.0)
    yuan[d] = around_drug * np.exp(0.5 * rng.standard_normal(len(d)))
    sv = np.flatnonzero(severe)
    serious = np.exp(np.log(K.SEVERE_STAY_MEDIAN) + K.SEVERE_STAY_SIGMA * rng.standard_normal(len(sv)))
    tail = np.minimum(
        K.CATASTROPHIC_MIN * (1.0 - rng.random(len(sv))) ** (-1 / K.CATASTROPHIC_ALPHA), K.CATASTROPHIC_CAP
    )
    yuan[sv] = np.where(rng.random(len(sv)) < K.CATASTROPHIC_SHARE, tail, serious)
    return yuan_fen(yuan * cost_level)


def _drug_line(rng: np.random.Generator, c: _Ctx, psn: np.ndarray, drug: np.ndarray) -> tuple[np.ndarray, ...]:
    """High-cost drug line of each record: amount (fen, 0 none), class, code index (-1 none)."""
    d = np.flatnonzero(drug)
    amt = np.zeros(len(psn), dtype=np.int64)
    amt[d] = yuan_fen(np.exp(np.log(K.DRUG_PURCHASE_MEDIAN) + K.DRUG_PURCHASE_SIGMA * rng.standard_normal(len(d))))
    lv = np.where(c.drug_class_b[psn], DRUG_CLASS_B, DRUG_SELF_PAID)
    code = np.where(drug, c.drug_code[psn], -1)
    return amt, lv, code


def _diagnoses(rng: np.random.Generator, v: dict[str, np.ndarray], pre: np.ndarray) -> tuple[np.ndarray, ...]:
    """Primary and secondary ICD-10 indexes: the person's own condition where it fits."""
    kind, severe, drug = v["kind"], v["severe"], v["drug"]
    n = len(kind)

    def pick(pool: str) -> np.ndarray:
        return _POOLS[pool][rng.integers(0, len(_POOLS[pool]), n)]

    own = pre >= 0
    u = rng.random(n)
    primary = np.select(
        [drug, severe, kind == CHRONIC, kind == INPATIENT],
        [
            np.where(own & (u < 0.9), pre, pick("DIAG_SEVERE")),
            np.where(own & (u < 0.5), pre, pick("DIAG_SEVERE")),
            np.where(own & (u < 0.8), pre, pick("DIAG_CHRONIC")),
            np.where(own & (u < 0.3), pre, pick("DIAG_INPATIENT")),
        ],
        np.where(own & (u < 0.3), pre, pick("DIAG_OUTPATIENT")),
    )
    second = pick("DIAG_SECONDARY")
    has2 = (rng.random(n) < np.where(kind == INPATIENT, 0.3, 0.05)) & (second != primary)
    return primary.astype(np.int16), second, has2


def _chunk(rng: np.random.Generator, c: _Ctx, v: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Everything about a slice of original visits except who, what kind and when."""
    psn, kind, severe, drug = v["psn"], v["kind"], v["severe"], v["drug"]
    n, people = len(kind), c.people
    inpatient = kind == INPATIENT
    away = np.where(severe, 2.0, 1.0)  # serious illness goes to big-city hospitals more often
    ua = rng.random(n)
    out_area = np.select([ua < K.OUT_OF_PROVINCE * away, ua < (K.OUT_OF_PROVINCE + K.OUT_OF_CITY) * away], [2, 1], 0)
    out_area = out_area * inpatient
    filed = (out_area > 0) & (rng.random(n) < K.OUT_OF_AREA_FILED)
    inst_idx, rx_idx = _institution(rng, c, v, out_area)
    level = c.inst.level[inst_idx]
    b = make_buckets(rng, _body_cost(rng, v, level, c.profile.cost_level), kind, severe)
    b.d_amt, b.d_lv, b.d_code = _drug_line(rng, c, psn, drug)
    out = totals(b)
    payer = Payer(
        psn=psn,
        kind=kind,
        drug=drug,
        level=np.where(level == LEVEL_PHARMACY, 0, level),
        employee=people.employee[psn],
        out_area=out_area,
        filed=filed,
        civil_servant=people.civil_servant[psn],
        enterprise_supp=people.enterprise_supp[psn],
        assisted=people.assisted[psn],
    )
    out.update(pay_funds(rng, c.profile.insurance, c.ytd, out["inscp_scp_amt"], out["medfee_sumamt"], payer))
    los = np.rint(np.exp(np.log(6) + 0.5 * rng.standard_normal(n)) * (out["medfee_sumamt"] / 800_000) ** 0.25)
    los = np.clip(los, 1, 120).astype(np.int64)
    out["begin"] = np.where(inpatient, np.maximum(v["end"] - los, c.cover_start_day), v["end"])
    out["primary"], out["second"], out["has2"] = _diagnoses(rng, v, people.pre_code[psn])
    out.update({"inst": inst_idx, "rx": rx_idx, "filed": filed, **{f: getattr(b, f) for f in BUCKET_FIELDS}})
    return out


@dataclass(frozen=True)
class _Timeline:
    """Who, what kind and when, for originals in time order, and the final row layout."""

    visits: dict[str, np.ndarray]  # per original (time order): psn, kind, severe, drug, end (day number)
    refund: np.ndarray  # per final row
    src: np.ndarray  # per final row: final row of its original (its own row for an original)
    setl_us: np.ndarray  # per final row
    refund_of: np.ndarray  # per original: ordinal of its refund, -1 none
    start_day: int
    n_ref: int


def _timeline(rng: np.random.Generator, profile: CityProfile, v: Visits, n_ref: int) -> _Timeline:
    """Give each visit a time; sort by settlement time; merge refunds in after their originals."""
    n0 = len(v.psn)
    start = int(np.datetime64(profile.cover_start, "D").astype(np.int64))
    ndays = (profile.cover_end - profile.cover_start).days + 1
    us = (start + rng.integers(0, ndays, n0)) * US_PER_DAY
    us += (
        np.where(v.kind == INPATIENT, rng.integers(9 * 3600, 17 * 3600, n0), rng.integers(8 * 3600, 20 * 3600, n0))
        * 1_000_000
    )
    order = pl.Series(us).arg_sort().to_numpy()
    us = us[order]
    visits = {"psn": v.psn[order], "kind": v.kind[order], "severe": v.severe[order], "drug": v.drug[order]}
    visits["end"] = us // US_PER_DAY
    del order

    orig = rng.choice(n0, n_ref, replace=False) if n_ref else np.zeros(0, dtype=np.int64)
    last_us = int(np.datetime64(profile.cover_end + timedelta(days=1), "D").astype(np.int64)) * US_PER_DAY - 1_000_000
    delta = np.minimum(rng.integers(600, 20 * 86_400, n_ref) * 1_000_000, last_us - us[orig])
    ref_us = us[orig] + np.maximum(delta, 1_000_000)
    k = np.argsort(ref_us, kind="stable")
    orig, ref_us = orig[k], ref_us[k]
    ref_pos = np.searchsorted(us, ref_us, side="right") + np.arange(n_ref)
    n = n0 + n_ref
    refund = np.zeros(n, dtype=bool)
    refund[ref_pos] = True
    orig_pos = np.flatnonzero(~refund)
    src = np.arange(n)
    src[ref_pos] = orig_pos[orig]
    setl_us = np.empty(n, dtype=np.int64)
    setl_us[orig_pos] = us
    setl_us[ref_pos] = ref_us
    refund_of = np.full(n0, -1, dtype=np.int64)
    refund_of[orig] = np.arange(n_ref)
    return _Timeline(visits, refund, src, setl_us, refund_of, start, n_ref)


def _expand(
    vals: dict[str, np.ndarray],
    stash: dict[str, np.ndarray],
    t: _Timeline,
    t0: int,
    t1: int,
    is_ref: np.ndarray,
    j0: int,
) -> dict[str, np.ndarray]:
    """Chunk rows from the chunk's originals and the stashed originals of its refunds.

    An original is stashed (by its refund's ordinal) before its chunk's refunds are
    filled, and a refund always comes after its original, so the stash has it.
    """
    mark = t.refund_of[t0:t1]
    keep = mark >= 0
    for name, v in vals.items():
        if name not in stash:
            stash[name] = np.zeros(t.n_ref, dtype=v.dtype)
        stash[name][mark[keep]] = v[keep]
    n_ref = int(is_ref.sum())
    out = {}
    for name, v in vals.items():
        full = np.empty(len(is_ref), dtype=v.dtype)
        full[~is_ref] = v
        full[is_ref] = stash[name][j0 : j0 + n_ref]
        out[name] = full
    for name in (*SETTLEMENT_AMOUNTS, *OPTIONAL_AMOUNTS):
        out[name][is_ref] *= -1
    return out


def _frame(
    c: dict[str, np.ndarray],
    t: _Timeline,
    lo: int,
    hi: int,
    roster: pl.DataFrame,
    inst: Institutions,
    prefix: str,
    first: int,
) -> pl.DataFrame:
    """The settlement rows ``lo:hi`` as a frame in the engine's schema; ids are numbered from ``first``."""
    n = hi - lo
    refund, src = t.refund[lo:hi], t.src[lo:hi] + first
    init = pl.repeat(None, n, dtype=pl.Utf8, eager=True).alias("init_setl_id")
    if refund.any():
        init = init.scatter(np.flatnonzero(refund), fixed_ids(prefix, src[refund], SETL_KIND, "init_setl_id"))
    psn, where = c["psn"], c["inst"]
    codes = inst.frame["fixmedins_code"]
    diag = lists_from_matrix(
        np.stack([np.ones(n, dtype=bool), c["has2"]], axis=1),
        np.stack([c["primary"], c["second"]], axis=1),
        DIAG_WORDS,
        "diseases",
    )
    series = [
        c["setl_id"],
        fixed_ids(prefix, src, MDTRT_KIND, "mdtrt_id"),
        roster["psn_no"].gather(psn),
        roster["insutype"].gather(psn),
        take_str(MED_TYPES, c["kind"], "med_type"),
        codes.gather(where),
        take_str(codes.to_list(), c["rx"], "rx_fixmedins_code"),
        roster["insu_admdvs"].gather(psn),
        inst.frame["admdvs"].gather(where).alias("mdtrt_area_admvs"),
        take_str(["0", "1"], refund.astype(np.int8), "refd_setl_flag"),
        init,
        pl.Series("begndate", c["begin"].astype("datetime64[D]")),
        pl.Series("enddate", c["end"].astype("datetime64[D]")),
        pl.Series("setl_time", t.setl_us[lo:hi].astype("datetime64[us]")),
        *(pl.Series(name, c[name]) for name in SETTLEMENT_AMOUNTS),
        *(pl.Series(name, c[name]) for name in OPTIONAL_AMOUNTS),
        pl.Series("out_area_filed", c["filed"]),
        diag,
    ]
    return pl.DataFrame(series).cast(SETTLEMENT_SCHEMA)  # type: ignore[arg-type]


def make_settlements(
    rng: np.random.Generator,
    profile: CityProfile,
    people: People,
    roster: pl.DataFrame,
    inst: Institutions,
    visits: Visits,
    drug_codes: list[str],
    *,
    seed: int,
    n_refunds: int,
    fee_lines: bool = True,
    first: int = 0,
) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """The visits' settlements and ``n_refunds`` refunds of some of them, in setl_time order, and their
    fee lines; ``first`` numbers the first settlement (a city generated in parts)."""
    n0 = len(visits.psn)
    n_ref = min(n_refunds, n0)
    t = _timeline(rng, profile, visits, n_ref)
    ctx = _Ctx(
        people=people,
        inst=inst,
        profile=profile,
        ytd=YearToDate(len(people.age)),
        drug_code=visits.drug_code,
        drug_class_b=visits.drug_class_b,
        cover_start_day=t.start_day,
    )
    catalog = ItemCatalog.build(drug_codes)
    prefix = profile.region_code + str(profile.year)
    n_records = n0 + n_ref
    refunds_before = np.concatenate([[0], np.cumsum(t.refund)])
    stash: dict[str, np.ndarray] = {}
    frames, line_frames = [], []
    for lo in range(0, n_records, CHUNK):
        hi = min(lo + CHUNK, n_records)
        is_ref = t.refund[lo:hi]
        j0 = int(refunds_before[lo])
        t0, t1 = lo - j0, hi - int(refunds_before[hi])
        v = {k: a[t0:t1] for k, a in t.visits.items()}
        vals = _chunk(rng, ctx, v)
        vals.update(v)
        c = _expand(vals, stash, t, t0, t1, is_ref, j0)
        c["setl_id"] = fixed_ids(prefix, np.arange(lo, hi) + first, SETL_KIND, "setl_id")
        frames.append(_frame(c, t, lo, hi, roster, inst, prefix, first))
        if fee_lines:
            b = Buckets(**{f: c[f] for f in BUCKET_FIELDS})
            line_frames.append(make_fee_lines(seed, t.src[lo:hi], is_ref, c["kind"], b, c["setl_id"], catalog))
    settlements = pl.concat(frames, rechunk=False) if frames else pl.DataFrame(schema=SETTLEMENT_SCHEMA)
    if not fee_lines:
        return settlements, None
    lines = pl.concat(line_frames, rechunk=False) if line_frames else pl.DataFrame(schema=FEE_LINE_SCHEMA)
    return settlements, lines


__all__ = ["DIAG_WORDS", "make_settlements"]
