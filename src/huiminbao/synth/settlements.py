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

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import polars as pl

from huiminbao.synth import vocab
from huiminbao.synth.amounts import (
    CHRONIC,
    DRUG_CLASS_B,
    DRUG_SELF_PAID,
    INPATIENT,
    OUTPATIENT,
    Buckets,
    Payer,
    make_buckets,
    pay_funds,
    totals,
)
from huiminbao.synth.arrays import fixed_ids, lists_from_matrix, take_str, yuan_fen
from huiminbao.synth.fees import ItemCatalog
from huiminbao.synth.fees import fee_lines as make_fee_lines
from huiminbao.synth.institutions import LEVEL_PHARMACY, LEVEL_TERTIARY, Institutions
from huiminbao.synth.profile import CityProfile
from huiminbao.synth.roster import People
from huiminbao.vocabulary import FEE_LINE_SCHEMA, OPTIONAL_AMOUNTS, SETTLEMENT_AMOUNTS, SETTLEMENT_SCHEMA

US_PER_DAY = 86_400_000_000
# Calibration, from published figures (approximate; see each source):
# - 国家医保局《2023年全国医疗保障事业发展统计公报》: about one inpatient stay per five insured a year
#   (住院率约 20%), average inpatient cost about 10,000 yuan (职工约 1.2 万元、居民约 0.8 万元).
# - 复旦大学/中国银保信等《惠民保发展模式研究》与各地年报: 1–3% of the insured receive a payout a year,
#   loss ratios mostly 60–100%; cancer and its drugs dominate large claims.
INPATIENT_SHARE = 0.04  # of records (5 records a person a year): 0.2 stays a person
TAIL_SHARE = (0.11, 0.20)  # of stays (others, cancer patients): catastrophic stays, Pareto-costed
TAIL_MIN, TAIL_ALPHA, TAIL_CAP = 30_000.0, 3.0, 2_000_000.0  # yuan; mean about 45,000
DRUG_SHARE = {"inpatient": (0.004, 0.08, 0.2), "chronic": (0.004, 0.06), "outpatient": 0.0005}
# high-cost drug line per visit: inpatient (others, cancer, catastrophic), chronic (others, cancer), outpatient
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
    n_drug_codes: int
    cover_start_day: int
    cost_level: float


def _visits(rng: np.random.Generator, people: People, n: int) -> np.ndarray:
    """The person of each visit: older and sicker people visit more, with a heavy-tailed frailty."""
    w = (0.6 + (people.age / 40.0) ** 2) * rng.gamma(0.8, 1.25, len(people.age))
    w *= np.where(people.pre_code >= 0, 2.0, 1.0)
    counts = rng.multinomial(n, w / w.sum())
    return np.repeat(np.arange(len(w), dtype=np.int32), counts)


def _institution(
    rng: np.random.Generator, c: _Ctx, med: np.ndarray, psn: np.ndarray, tail: np.ndarray, out_area: np.ndarray
) -> np.ndarray:
    """Where each visit happened: by visit type, the person's county, out-of-area flags."""
    n, inst = len(med), c.inst
    cty = np.where(rng.random(n) < 0.9, c.people.county[psn], rng.integers(0, inst.county.shape[0], n))
    u = rng.random(n)
    cat = np.select(
        [med == OUTPATIENT, med == CHRONIC],
        [np.digitize(u, [0.45, 0.80]), np.where(u < 0.5, 1, 2)],
        np.where(tail, np.where(u < 0.8, 2, 1), np.digitize(u, [0.15, 0.60])),
    )
    j = rng.integers(0, 1 << 30, n)
    idx = np.select(
        [cat == 0, cat == 1],
        [inst.township[cty, j % inst.township.shape[1]], inst.county[cty, j % 2]],
        inst.tertiary[j % len(inst.tertiary)],
    )
    for kind, table in ((1, inst.near), (2, inst.far)):
        sel = out_area == kind
        if len(table) and sel.any():
            m = int(sel.sum())
            idx[sel] = table[rng.integers(0, len(table), m), rng.integers(0, 2, m)]
    return idx


def _drugs(
    rng: np.random.Generator, med: np.ndarray, tail: np.ndarray, cancer: np.ndarray, n_codes: int
) -> tuple[np.ndarray, ...]:
    """High-cost drug line of each visit: amount (fen, 0 none), class, code index (-1 none)."""
    n = len(med)
    p = np.select(
        [med == INPATIENT, med == CHRONIC],
        [
            np.where(tail, DRUG_SHARE["inpatient"][2], np.where(cancer, *DRUG_SHARE["inpatient"][1::-1])),
            np.where(cancer, DRUG_SHARE["chronic"][1], DRUG_SHARE["chronic"][0]),
        ],
        DRUG_SHARE["outpatient"],
    )
    has = (rng.random(n) < p) & (n_codes > 0)
    amt = np.clip(np.exp(np.log(12_000) + 0.9 * rng.standard_normal(n)), 800, 1_500_000)
    lv = np.where(rng.random(n) < 0.5, DRUG_SELF_PAID, DRUG_CLASS_B)
    code = np.where(has, rng.integers(0, max(n_codes, 1), n), -1)
    return np.where(has, yuan_fen(amt), 0), lv, code


def _body_cost(
    rng: np.random.Generator, med: np.ndarray, tail: np.ndarray, level: np.ndarray, cost_level: float
) -> np.ndarray:
    """Cost of everything but the drug line, fen: lognormal bodies, a Pareto tail for stays."""
    n = len(med)
    mu = np.log(np.array([120.0, 600.0, 5000.0]))[med]
    sigma = np.array([0.9, 0.8, 0.7])[med]
    yuan = np.exp(mu + sigma * rng.standard_normal(n)) * np.array([0.5, 1.0, 1.4, 0.0])[level]
    pareto = np.minimum(TAIL_MIN * (1.0 - rng.random(n)) ** (-1 / TAIL_ALPHA), TAIL_CAP)
    yuan = np.where(tail, pareto, np.maximum(yuan, np.where(level == LEVEL_PHARMACY, 0.0, 5.0)))
    return yuan_fen(yuan * cost_level)


def _diagnoses(rng: np.random.Generator, med: np.ndarray, tail: np.ndarray, pre: np.ndarray) -> tuple[np.ndarray, ...]:
    """Primary and secondary ICD-10 indexes: the person's own condition where it fits."""
    n = len(med)

    def pick(pool: str) -> np.ndarray:
        return _POOLS[pool][rng.integers(0, len(_POOLS[pool]), n)]

    own = pre >= 0
    u = rng.random(n)
    primary = np.select(
        [med == OUTPATIENT, med == CHRONIC, tail],
        [
            np.where(own & (u < 0.3), pre, pick("DIAG_OUTPATIENT")),
            np.where(own & (u < 0.8), pre, pick("DIAG_CHRONIC")),
            np.where(own & (u < 0.5), pre, pick("DIAG_SEVERE")),
        ],
        np.where(own & (u < 0.3), pre, pick("DIAG_INPATIENT")),
    )
    second = pick("DIAG_SECONDARY")
    has2 = (rng.random(n) < np.where(med == INPATIENT, 0.3, 0.05)) & (second != primary)
    return primary.astype(np.int16), second, has2


def _chunk(
    rng: np.random.Generator, c: _Ctx, psn: np.ndarray, med: np.ndarray, end: np.ndarray
) -> dict[str, np.ndarray]:
    """Everything about a slice of original visits except who, what kind and when."""
    n, people = len(med), c.people
    inpatient = med == INPATIENT
    cancer = people.cancer[psn]
    tail = inpatient & (rng.random(n) < np.where(cancer, TAIL_SHARE[1], TAIL_SHARE[0]))
    ua = rng.random(n)
    out_area = np.where(ua < 0.03, 1, np.where(ua < 0.05, 2, 0)) * inpatient  # 1 province, 2 elsewhere
    filed = (out_area > 0) & (rng.random(n) < 0.8)
    inst_idx = _institution(rng, c, med, psn, tail, out_area)
    d_amt, d_lv, d_code = _drugs(rng, med, tail, cancer, c.n_drug_codes)
    to_pharmacy = (d_amt > 0) & (med == CHRONIC) & (out_area == 0) & (rng.random(n) < 0.5)
    inst_idx = np.where(to_pharmacy, c.inst.pharmacy[rng.integers(0, len(c.inst.pharmacy), n)], inst_idx)
    # a pharmacy dispenses on the prescription of the person's county hospital (a county-level institution)
    rx = np.where(to_pharmacy, c.inst.county[people.county[psn], 0], -1)
    level = c.inst.level[inst_idx]
    b = make_buckets(rng, _body_cost(rng, med, tail, level, c.cost_level), med, tail)
    b.d_amt, b.d_lv, b.d_code = d_amt, d_lv, d_code
    out = totals(b)
    payer = Payer(
        med=med,
        level=np.where(level == LEVEL_PHARMACY, LEVEL_TERTIARY, level),
        employee=people.employee[psn],
        out_area=out_area,
        filed=filed,
        civil_servant=people.civil_servant[psn],
        enterprise_supp=people.enterprise_supp[psn],
        assisted=people.assisted[psn],
    )
    out.update(pay_funds(rng, out["inscp_scp_amt"], out["medfee_sumamt"], payer))
    los = np.rint(np.exp(np.log(6) + 0.5 * rng.standard_normal(n)) * (out["medfee_sumamt"] / 800_000) ** 0.25)
    los = np.clip(los, 1, 120).astype(np.int64)
    out["begin"] = np.where(inpatient, np.maximum(end - los, c.cover_start_day), end)
    out["primary"], out["second"], out["has2"] = _diagnoses(rng, med, tail, people.pre_code[psn])
    out.update({"inst": inst_idx, "rx": rx, "filed": filed, **{f: getattr(b, f) for f in BUCKET_FIELDS}})
    return out


@dataclass(frozen=True)
class _Timeline:
    """Who, what kind and when, for originals in time order, and the final row layout."""

    psn: np.ndarray  # per original (time order)
    med: np.ndarray
    end: np.ndarray  # day number of the visit's end (settlement day)
    refund: np.ndarray  # per final row
    src: np.ndarray  # per final row: final row of its original (its own row for an original)
    setl_us: np.ndarray  # per final row
    refund_of: np.ndarray  # per original: ordinal of its refund, -1 none
    start_day: int
    n_ref: int


def _timeline(rng: np.random.Generator, profile: CityProfile, people: People, n0: int, n_ref: int) -> _Timeline:
    """Draw who, what kind and when; sort by settlement time; merge refunds in after their originals."""
    psn = _visits(rng, people, n0)
    u = rng.random(n0)
    p14 = np.where(people.pre_code[psn] >= 0, 0.30, 0.04)
    med = np.where(u < INPATIENT_SHARE, INPATIENT, np.where(u < INPATIENT_SHARE + p14, CHRONIC, OUTPATIENT))
    med = med.astype(np.int8)
    del u, p14
    start = int(np.datetime64(profile.cover_start, "D").astype(np.int64))
    ndays = (profile.cover_end - profile.cover_start).days + 1
    us = (start + rng.integers(0, ndays, n0)) * US_PER_DAY
    us += (
        np.where(med == INPATIENT, rng.integers(9 * 3600, 17 * 3600, n0), rng.integers(8 * 3600, 20 * 3600, n0))
        * 1_000_000
    )
    order = pl.Series(us).arg_sort().to_numpy()
    psn, med, us = psn[order], med[order], us[order]
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
    return _Timeline(psn, med, us // US_PER_DAY, refund, src, setl_us, refund_of, start, n_ref)


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
    c: dict[str, np.ndarray], t: _Timeline, lo: int, hi: int, roster: pl.DataFrame, inst: Institutions, prefix: str
) -> pl.DataFrame:
    """The settlement rows ``lo:hi`` as a frame in the engine's schema."""
    n = hi - lo
    refund, src = t.refund[lo:hi], t.src[lo:hi]
    init = pl.repeat(None, n, dtype=pl.Utf8, eager=True).alias("init_setl_id")
    if refund.any():
        init = init.scatter(np.flatnonzero(refund), fixed_ids(prefix, src[refund], SETL_KIND, "init_setl_id"))
    psn, where = c["psn"], c["inst"]
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
        take_str(["11", "14", "21"], c["med"], "med_type"),
        inst.frame["fixmedins_code"].gather(where),
        inst.frame["fixmedins_code"]
        .gather(np.maximum(c["rx"], 0))
        .scatter(np.flatnonzero(c["rx"] < 0), None)
        .alias("rx_fixmedins_code"),
        roster["insu_admdvs"].gather(psn),
        inst.frame["admdvs"].gather(where).alias("mdtrt_area_admvs"),
        take_str(["0", "1"], refund.astype(np.int8), "refd_setl_flag"),
        init,
        pl.Series("begndate", c["begin"].astype("datetime64[D]")),
        pl.Series("enddate", c["end"].astype("datetime64[D]")),
        pl.Series("setl_time", t.setl_us[lo:hi].astype("datetime64[us]")),
        *(pl.Series(name, c[name]) for name in SETTLEMENT_AMOUNTS),
        pl.Series("hifmi_inscp_scp_amt", c["hifmi_inscp_scp_amt"]),
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
    n_records: int,
    drug_codes: Sequence[str],
    *,
    seed: int,
    fee_lines: bool = True,
    refund_share: float = 0.02,
) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """``n_records`` settlements (refunds included) in setl_time order, and their fee lines."""
    n_ref = round(n_records * refund_share)
    n0 = n_records - n_ref
    t = _timeline(rng, profile, people, n0, n_ref)
    ctx = _Ctx(
        people=people,
        inst=inst,
        n_drug_codes=len(drug_codes),
        cover_start_day=t.start_day,
        cost_level=profile.cost_level,
    )
    catalog = ItemCatalog.build(drug_codes)
    prefix = profile.region_code + str(profile.year)
    refunds_before = np.concatenate([[0], np.cumsum(t.refund)])
    stash: dict[str, np.ndarray] = {}
    frames, line_frames = [], []
    for lo in range(0, n_records, CHUNK):
        hi = min(lo + CHUNK, n_records)
        is_ref = t.refund[lo:hi]
        j0 = int(refunds_before[lo])
        t0, t1 = lo - j0, hi - int(refunds_before[hi])
        vals = _chunk(rng, ctx, t.psn[t0:t1], t.med[t0:t1], t.end[t0:t1])
        vals.update(psn=t.psn[t0:t1], med=t.med[t0:t1], end=t.end[t0:t1])
        c = _expand(vals, stash, t, t0, t1, is_ref, j0)
        c["setl_id"] = fixed_ids(prefix, np.arange(lo, hi), SETL_KIND, "setl_id")
        frames.append(_frame(c, t, lo, hi, roster, inst, prefix))
        if fee_lines:
            b = Buckets(**{f: c[f] for f in BUCKET_FIELDS})
            line_frames.append(make_fee_lines(seed, t.src[lo:hi], is_ref, c["med"], b, c["setl_id"], catalog))
    settlements = pl.concat(frames, rechunk=False) if frames else pl.DataFrame(schema=SETTLEMENT_SCHEMA)
    if not fee_lines:
        return settlements, None
    lines = pl.concat(line_frames, rechunk=False) if line_frames else pl.DataFrame(schema=FEE_LINE_SCHEMA)
    return settlements, lines


__all__ = ["DIAG_WORDS", "make_settlements"]
