"""Settlement amounts in fen: cost parts by item class, then what each public fund pays.

Costs are first split into the buckets fee lines are made of (class-A items,
class-B items, fully self-paid items, one optional high-cost drug), so the
settlement's parts are sums of buckets and the fee lines can later split each
bucket exactly. Funds then pay only out of the in-scope amount above the
deductible, each out of what the ones before it left, so every identity of the
national record holds by construction:

    medfee = fulamt_ownpay + overlmt_selfpay + preselfpay + inscp_scp
    fund_pay_sumamt = sum of the 7 funds <= inscp_scp - act_pay_dedc
    psn_part = medfee - fund_pay_sumamt = acct_pay + psn_cash_pay
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from huiminbao.synth.arrays import pct, yuan_fen
from huiminbao.synth.institutions import LEVEL_COUNTY, LEVEL_TERTIARY, LEVEL_TOWNSHIP
from huiminbao.vocabulary import FUND_FIELDS

OUTPATIENT, CHRONIC, INPATIENT = 0, 1, 2  # med_type 11, 14, 21
HIFP_CAP = yuan_fen(np.array(150_000.0))  # pooled fund per settlement
HIFOB_CAP = yuan_fen(np.array(500_000.0))
HIFMI_CAP = yuan_fen(np.array(400_000.0))
HIFMI_THRESHOLD = yuan_fen(np.array(15_000.0))  # critical-illness threshold on what basic left
DRUG_SELF_PAID, DRUG_CLASS_B = 3, 2


@dataclass
class Buckets:
    """Per-record cost buckets in fen (non-negative), the raw material of fee lines."""

    a_in: np.ndarray  # class A, in scope
    a_over: np.ndarray  # class A, above the price limit
    b_pre: np.ndarray  # class B, first self-paid share
    b_in: np.ndarray
    b_over: np.ndarray
    s_ful: np.ndarray  # fully self-paid items
    d_amt: np.ndarray  # high-cost drug line (0: none)
    d_lv: np.ndarray  # DRUG_SELF_PAID or DRUG_CLASS_B
    d_code: np.ndarray  # index into the drug code list, -1 none

    def d_parts(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The drug line's (fully self-paid, first self-paid, in-scope) split."""
        class_b = self.d_lv == DRUG_CLASS_B
        d_pre = np.where(class_b, pct(self.d_amt, 1000), 0)
        d_ful = np.where(class_b, 0, self.d_amt)
        return d_ful, d_pre, self.d_amt - d_ful - d_pre


def make_buckets(rng: np.random.Generator, body: np.ndarray, med: np.ndarray, tail: np.ndarray) -> Buckets:
    """Split each record's body cost (fen) into item-class buckets; drug fields start empty."""
    n = len(body)
    p_zero = np.array([0.6, 0.5, 0.1])[med]
    u = rng.random((4, n))  # products and sums of uniforms: cheap stand-ins for beta draws
    s_share = np.where(u[0] < p_zero, 0.0, np.minimum(0.25 * u[1] ** 2 * np.where(tail, 1.5, 1.0), 0.6))
    s_ful = np.rint(body * s_share).astype(np.int64)
    b_tot = np.rint((body - s_ful) * (u[2] + u[3]) * 0.375).astype(np.int64)
    a_tot = body - s_ful - b_tot
    b_pre = pct(b_tot, rng.choice(np.array([500, 1000, 1500, 2000]), n, p=[0.2, 0.5, 0.2, 0.1]))
    over_bp = np.where(rng.random(n) < np.where(med == INPATIENT, 0.2, 0.1), rng.integers(50, 300, n), 0)
    a_over = pct(a_tot, over_bp)
    b_over = pct(b_tot - b_pre, over_bp)
    zeros = np.zeros(n, dtype=np.int64)
    return Buckets(
        a_in=a_tot - a_over,
        a_over=a_over,
        b_pre=b_pre,
        b_in=b_tot - b_pre - b_over,
        b_over=b_over,
        s_ful=s_ful,
        d_amt=zeros,
        d_lv=zeros.copy(),
        d_code=zeros - 1,
    )


def totals(b: Buckets) -> dict[str, np.ndarray]:
    """The settlement's four cost parts and their sum, from the buckets."""
    d_ful, d_pre, d_in = b.d_parts()
    parts = {
        "fulamt_ownpay_amt": b.s_ful + d_ful,
        "overlmt_selfpay": b.a_over + b.b_over,
        "preselfpay_amt": b.b_pre + d_pre,
        "inscp_scp_amt": b.a_in + b.b_in + d_in,
    }
    parts["medfee_sumamt"] = sum(parts.values())  # type: ignore[assignment]
    return parts


@dataclass
class Payer:
    """Who is paying and where: the inputs of the fund rules, one value per record."""

    med: np.ndarray
    level: np.ndarray  # institution LEVEL_*
    employee: np.ndarray
    out_area: np.ndarray  # 0 in city, 1 elsewhere in the province, 2 other province
    filed: np.ndarray
    civil_servant: np.ndarray
    enterprise_supp: np.ndarray
    assisted: np.ndarray


def _hifp_bp(rng: np.random.Generator, p: Payer) -> np.ndarray:
    """Pooled-fund ratio in basis points by visit type, level, insurance type, place."""
    n = len(p.med)
    inpatient = np.where(
        p.employee,
        np.select([p.level == LEVEL_TOWNSHIP, p.level == LEVEL_COUNTY], [9000, 8800], 8500),
        np.select([p.level == LEVEL_TOWNSHIP, p.level == LEVEL_COUNTY], [8000, 7000], 5500),
    )
    inpatient = inpatient - np.where(p.out_area > 0, np.where(p.filed, 1000, 2000), 0)
    chronic = np.where(p.employee, 8500, 6500)
    pooled = rng.random(n) < 0.5
    outpatient = np.where(
        p.employee,
        np.where(pooled, 6000, 0),
        np.select([p.level == LEVEL_TOWNSHIP, p.level == LEVEL_COUNTY], [5000, np.where(pooled, 4000, 0)], 0),
    )
    return np.select([p.med == INPATIENT, p.med == CHRONIC], [inpatient, chronic], outpatient)


def _deductible(p: Payer) -> np.ndarray:
    """Basic insurance deductible (起付线) per inpatient stay, fen; none for outpatient care."""
    yuan = np.where(
        p.out_area > 0,
        1500,
        np.select(
            [p.level == LEVEL_TOWNSHIP, p.level == LEVEL_COUNTY, p.level == LEVEL_TERTIARY],
            [np.where(p.employee, 300, 200), np.where(p.employee, 600, 500), 1000],
            0,
        ),
    )
    return np.where(p.med == INPATIENT, yuan * 100, 0).astype(np.int64)


def pay_funds(rng: np.random.Generator, inscp: np.ndarray, medfee: np.ndarray, p: Payer) -> dict[str, np.ndarray]:
    """Deductible, the seven funds, the person's part and how the person paid it (fen)."""
    n = len(inscp)
    serious = p.med != OUTPATIENT
    dedc = np.minimum(inscp, _deductible(p))
    base = inscp - dedc
    r = _hifp_bp(rng, p)
    hifp = np.minimum(pct(base, r), HIFP_CAP)
    cap_base = np.where(r > 0, -(-HIFP_CAP * 10_000 // np.maximum(r, 1)), np.iinfo(np.int64).max // 4)
    hifob = np.where(p.employee & serious, np.minimum(pct(np.maximum(base - cap_base, 0), 8500), HIFOB_CAP), 0)
    hifob = np.minimum(hifob, base - hifp)
    left = base - hifp - hifob
    # critical-illness scope (setldetail's 大病 row): for residents what basic left above the threshold,
    # for employees what lies above the pooled fund's cap (the large-amount subsidy's scope)
    ci_scope = np.where(
        serious, np.where(p.employee, np.maximum(base - cap_base, 0), np.maximum(left - HIFMI_THRESHOLD, 0)), 0
    )
    ci_scope = np.minimum(ci_scope, base - hifp)
    hifmi = np.where(~p.employee & serious, np.minimum(pct(ci_scope, 6000), HIFMI_CAP), 0)
    left = left - hifmi
    funds = {"hifp_pay": hifp, "hifmi_pay": hifmi, "hifob_pay": hifob}
    for name, who, bp in (
        ("cvlserv_pay", p.civil_servant & serious, 3000),
        ("hifes_pay", p.enterprise_supp & (p.med == INPATIENT), 2000),
        ("maf_pay", p.assisted & serious & (rng.random(n) < 0.6), 7000),
        ("oth_pay", rng.random(n) < 0.005, 1000),
    ):
        funds[name] = np.where(who, pct(left, bp), 0)
        left = left - funds[name]
    fund_sum = base - left
    psn_part = medfee - fund_sum
    u = rng.random(n)
    acct = np.where(
        p.employee,
        np.select(
            [p.med == OUTPATIENT, p.med == CHRONIC],
            [np.where(u < 0.7, psn_part, 0), np.where(u < 0.5, psn_part, 0)],
            np.where(u < 0.6, np.minimum(psn_part, yuan_fen(rng.uniform(0, 3000, n))), 0),
        ),
        0,
    )
    return {
        "hifmi_inscp_scp_amt": ci_scope,
        "act_pay_dedc": dedc,
        **{k: funds[k] for k in FUND_FIELDS},
        "fund_pay_sumamt": fund_sum,
        "psn_part_amt": psn_part,
        "acct_pay": acct,
        "psn_cash_pay": psn_part - acct,
    }


__all__ = ["Buckets", "Payer", "make_buckets", "pay_funds", "totals"]
