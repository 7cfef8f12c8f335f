"""Who is treated how often in the year: stays, serious illness, high-cost drugs, visits, purchases.

Rates are per person (calibration.py), so a year's payouts do not depend on how many records are asked
for: stays, chronic-disease visits and high-cost drug purchases are drawn first, and ordinary outpatient
visits and pharmacy purchases fill the rest of the record count. When fewer records are asked for than
the rates need, a random subset of the drawn visits is kept (the manifest says the year is then thinner
than calibrated).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from huiminbao.synth import calibration as K
from huiminbao.synth.roster import AGE_BANDS, People

OUTPATIENT, CHRONIC, INPATIENT, PHARMACY = 0, 1, 2, 3  # med_type 11, 14, 21, 41
MED_TYPES = ("11", "14", "21", "41")


@dataclass(frozen=True)
class Rates:
    """Expected events per person in the year."""

    stays: np.ndarray  # ordinary inpatient stays
    severe: np.ndarray  # probability of a serious illness
    chronic: np.ndarray  # chronic-disease outpatient visits (14)
    outpatient: np.ndarray  # ordinary outpatient visits (11)
    pharmacy: np.ndarray  # ordinary pharmacy purchases (41)
    therapy: np.ndarray  # probability of being on a high-cost drug (given no serious illness)

    def expected(self) -> float:
        """Expected original settlements of the whole roster."""
        drugs = (self.therapy + self.severe * K.DRUG_THERAPY["severe"]) * _mean_purchases()
        extra = self.severe * (1 + K.SEVERE_STAYS)
        return float((self.stays + extra + self.chronic + self.outpatient + self.pharmacy + drugs).sum())


def _mean_purchases() -> float:
    first, most, p = K.DRUG_MONTHS
    return first + (most - first) * p


def rates(people: People) -> Rates:
    """Each person's rates from age, insurance type and conditions. The national levels hold for the
    census ages, so an older roster (the plan's buyers) is treated more often. A serious illness strikes
    by age alone (most are new: a first cancer, a stroke); known conditions shift the other stays to the
    people who have them without changing the roster's total."""
    band = np.minimum(people.age // 5, len(AGE_BANDS) - 1)
    census = float((AGE_BANDS * K.INPATIENT_AGE_PROFILE).sum() / AGE_BANDS.sum())
    cond = np.select(
        [people.cancer, people.chronic],
        [K.CONDITION_INPATIENT_FACTOR["cancer"], K.CONDITION_INPATIENT_FACTOR["chronic"]],
        1.0,
    )
    age_rel = K.INPATIENT_AGE_PROFILE[band] / census
    severe = np.minimum(K.SEVERE_RATE * age_rel, 0.5)
    stays = np.maximum(K.INPATIENT_RATE * age_rel * cond / cond.mean() - severe * (1 + K.SEVERE_STAYS), 0.0)
    visit_age = 0.6 + (people.age / 40.0) ** 2
    visit_age = visit_age / visit_age.mean()
    who = np.where(people.employee, 1, 0)
    out = np.array([K.OUTPATIENT_VISITS["resident"], K.OUTPATIENT_VISITS["employee"]])[who] * visit_age
    shop = np.array([K.PHARMACY_VISITS["resident"], K.PHARMACY_VISITS["employee"]])[who] * visit_age
    sick = people.cancer | people.chronic
    therapy = np.where(people.cancer, K.DRUG_THERAPY["cancer"], K.DRUG_THERAPY["other"])
    return Rates(stays, severe, np.where(sick, K.CHRONIC_VISITS, 0.1), out, shop, therapy)


@dataclass(frozen=True)
class Visits:
    """Original settlements before they are given a time: whose, what kind, serious, a drug purchase."""

    psn: np.ndarray
    kind: np.ndarray
    severe: np.ndarray
    drug: np.ndarray
    drug_code: np.ndarray  # per person: index into the drug list, -1 not on a high-cost drug
    drug_class_b: np.ndarray  # per person: the drug is class B (in the catalog) rather than self-paid
    thinned: bool  # fewer records than the rates need: a random subset was kept


def _spread(rng: np.random.Generator, weights: np.ndarray, total: int) -> np.ndarray:
    """``total`` events over persons in proportion to ``weights`` (times a gamma frailty): person ids."""
    w = weights * rng.gamma(K.FRAILTY_SHAPE, 1 / K.FRAILTY_SHAPE, len(weights))
    s = w.sum()
    if total <= 0 or s <= 0:
        return np.zeros(0, dtype=np.int32)
    return np.repeat(np.arange(len(w), dtype=np.int32), rng.multinomial(total, w / s))


def draw_visits(rng: np.random.Generator, people: People, n0: int, drug_weights: np.ndarray) -> Visits:
    """``n0`` original settlements of the year for the roster; ``drug_weights`` is each high-cost drug
    code's probability (profile.drug_code_weights)."""
    r = rates(people)
    n = len(people.age)
    severe_psn = np.flatnonzero(rng.random(n) < r.severe).astype(np.int32)
    severe_stays = np.repeat(severe_psn, 1 + rng.poisson(K.SEVERE_STAYS, len(severe_psn)))
    p_drug = r.therapy.copy()
    p_drug[severe_psn] = np.maximum(p_drug[severe_psn], K.DRUG_THERAPY["severe"])
    on_drug = np.flatnonzero((rng.random(n) < p_drug) & (len(drug_weights) > 0)).astype(np.int32)
    first, most, p = K.DRUG_MONTHS
    drug_psn = np.repeat(on_drug, first + rng.binomial(most - first, p, len(on_drug)))
    u = rng.random(len(drug_psn))
    at_pharmacy, at_clinic, _ = K.DRUG_SETTING
    drug_kind = np.where(u < at_pharmacy, PHARMACY, np.where(u < at_pharmacy + at_clinic, CHRONIC, INPATIENT))
    drug_code = np.full(n, -1, dtype=np.int64)
    if len(drug_weights):
        drug_code[on_drug] = rng.choice(len(drug_weights), len(on_drug), p=drug_weights)
    ordinary = _spread(rng, r.stays, round(float(r.stays.sum())))
    chronic = _spread(rng, r.chronic, round(float(r.chronic.sum())))
    parts = [
        (severe_stays, INPATIENT, True, False),
        (drug_psn, drug_kind, False, True),
        (ordinary, INPATIENT, False, False),
        (chronic, CHRONIC, False, False),
    ]
    need = sum(len(p[0]) for p in parts)
    fill = _spread(rng, r.outpatient + r.pharmacy, n0 - need)
    shop = rng.random(len(fill)) < (r.pharmacy / (r.outpatient + r.pharmacy))[fill]
    parts.append((fill, np.where(shop, PHARMACY, OUTPATIENT), False, False))
    psn = np.concatenate([p[0] for p in parts])
    kind = np.concatenate([np.broadcast_to(np.asarray(p[1], dtype=np.int8), p[0].shape) for p in parts])
    severe = np.concatenate([np.full(len(p[0]), p[2]) for p in parts])
    drug = np.concatenate([np.full(len(p[0]), p[3]) for p in parts])
    thinned = len(psn) > n0
    if thinned:
        keep = np.sort(rng.choice(len(psn), n0, replace=False))
        psn, kind, severe, drug = psn[keep], kind[keep], severe[keep], drug[keep]
    class_b = rng.random(n) < K.DRUG_CLASS_B_SHARE
    return Visits(psn, kind, severe, drug, drug_code, class_b, thinned)


def expected_records(people: People) -> float:
    """The roster's expected original settlements in a year at the calibrated rates."""
    return rates(people).expected()


__all__ = ["CHRONIC", "INPATIENT", "MED_TYPES", "OUTPATIENT", "PHARMACY", "Visits", "draw_visits", "expected_records"]
