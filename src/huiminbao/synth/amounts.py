"""Settlement amounts in fen: cost parts by item class, then what each public fund pays.

Costs are first split into the buckets fee lines are made of (class-A items,
class-B items, fully self-paid items, one optional high-cost drug), so the
settlement's parts are sums of buckets and the fee lines can later split each
bucket exactly. Funds then pay only out of the in-scope amount, each out of what
the ones before it left, by the city's rules (profile.BasicInsurance), so every
identity of the national record holds by construction:

    medfee = fulamt_ownpay + overlmt_selfpay + preselfpay + inscp_scp
    fund_pay_sumamt = sum of the 7 funds <= inscp_scp
    psn_part = medfee - fund_pay_sumamt = acct_pay + psn_cash_pay

The pooled fund never pays the deductible; critical-illness insurance pays a share of
the resident's in-scope self-pay (deductible included) above the year's threshold, so it
needs the person's running total of the year (``YearToDate``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from huiminbao.synth import calibration as K
from huiminbao.synth.arrays import pct, yuan_fen
from huiminbao.synth.profile import BasicInsurance
from huiminbao.synth.visits import CHRONIC, INPATIENT, OUTPATIENT
from huiminbao.vocabulary import FUND_FIELDS

DRUG_SELF_PAID, DRUG_CLASS_B = 3, 2
KINDS = ("outpatient", "chronic", "inpatient", "pharmacy")  # index = visits kind


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


def make_buckets(rng: np.random.Generator, body: np.ndarray, kind: np.ndarray, severe: np.ndarray) -> Buckets:
    """Split each record's body cost (fen) into item-class buckets (calibration: about 84 % of inpatient
    cost in scope); drug fields start empty."""
    n = len(body)
    p_zero = np.array([0.6, 0.5, 0.1, 0.7])[kind]  # share of records without any fully self-paid item
    u = rng.random((4, n))  # products and sums of uniforms: cheap stand-ins for beta draws
    s_share = np.where(u[0] < p_zero, 0.0, np.minimum(K.SELF_PAID_SHARE * u[1] ** 2 * np.where(severe, 1.5, 1.0), 0.6))
    s_ful = np.rint(body * s_share).astype(np.int64)
    b_tot = np.rint((body - s_ful) * (u[2] + u[3]) * 0.375).astype(np.int64)
    a_tot = body - s_ful - b_tot
    b_pre = pct(b_tot, rng.choice(np.array(K.CLASS_B_FIRST_SELF_PAY_BP), n, p=[0.2, 0.5, 0.2, 0.1]))
    over_bp = np.where(rng.random(n) < np.where(kind == INPATIENT, 0.2, 0.1), rng.integers(50, 300, n), 0)
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

    psn: np.ndarray
    kind: np.ndarray
    drug: np.ndarray  # a high-cost drug purchase (双通道 drugs are paid like chronic-disease care)
    level: np.ndarray  # institution LEVEL_* (township, county, tertiary; pharmacies as township)
    employee: np.ndarray
    out_area: np.ndarray  # 0 in city, 1 elsewhere in the province, 2 other province
    filed: np.ndarray
    civil_servant: np.ndarray
    enterprise_supp: np.ndarray
    assisted: np.ndarray


class YearToDate:
    """Each person's running total of the year (critical-illness in-scope self-pay), chunk after chunk
    in settlement-time order."""

    def __init__(self, persons: int):
        self.total = np.zeros(persons, dtype=np.int64)

    def before(self, psn: np.ndarray, x: np.ndarray) -> np.ndarray:
        """Each row's running total before it (rows in time order), and add the rows to the totals."""
        out = np.zeros(len(x), dtype=np.int64)
        rows = np.flatnonzero(x)
        if len(rows) == 0:
            return out
        p, v = psn[rows], x[rows]
        order = np.argsort(p, kind="stable")
        ps, vs = p[order], v[order]
        cs = np.cumsum(vs)
        start = np.ones(len(ps), dtype=bool)
        start[1:] = ps[1:] != ps[:-1]
        first = np.flatnonzero(start)
        gid = np.cumsum(start) - 1
        within = cs - vs - (cs[first] - vs[first])[gid]
        res = np.empty(len(rows), dtype=np.int64)
        res[order] = within + self.total[ps]
        out[rows] = res
        np.add.at(self.total, ps, vs)
        return out


def _pooled_bp(rng: np.random.Generator, ins: BasicInsurance, p: Payer) -> np.ndarray:
    """Pooled-fund ratio in basis points by kind of care, level, insurance type, place."""
    emp = p.employee.astype(np.int64)
    cut = np.where(p.out_area > 0, np.where(p.filed, ins.out_of_area_cut_bp[0], ins.out_of_area_cut_bp[1]), 0)
    inpatient = ins.inpatient_bp[emp, p.level] - cut
    pooled = rng.random(len(p.kind)) < ins.outpatient_pooled_share
    outpatient = np.where(pooled, ins.outpatient_bp[emp, p.level], 0)
    chronic = ins.chronic_bp[emp]
    return np.select(
        [p.kind == INPATIENT, (p.kind == CHRONIC) | p.drug, p.kind == OUTPATIENT], [inpatient, chronic, outpatient], 0
    )


def pay_funds(
    rng: np.random.Generator,
    ins: BasicInsurance,
    ytd: YearToDate,
    inscp: np.ndarray,
    medfee: np.ndarray,
    p: Payer,
) -> dict[str, np.ndarray]:
    """Deductible, the seven funds, the critical-illness scope, the person's part and how it was paid."""
    n = len(inscp)
    serious = (p.kind == INPATIENT) | (p.kind == CHRONIC) | p.drug
    emp = p.employee.astype(np.int64)
    deductible = np.where(p.out_area > 0, ins.out_of_area_deductible, ins.inpatient_deductible[emp, p.level])
    dedc = np.where(p.kind == INPATIENT, np.minimum(inscp, deductible), 0)
    base = inscp - dedc
    r = _pooled_bp(rng, ins, p)
    hifp = np.minimum(pct(base, r), ins.pooled_cap)
    cap_base = np.where(r > 0, -(-ins.pooled_cap * 10_000 // np.maximum(r, 1)), np.iinfo(np.int64).max // 4)
    hifob = np.where(
        p.employee & serious,
        np.minimum(pct(np.maximum(base - cap_base, 0), ins.large_amount_bp), ins.large_amount_cap),
        0,
    )
    hifob = np.minimum(hifob, base - hifp)
    left = inscp - hifp - hifob  # in-scope self-pay, deductible included
    ci_own = np.where(~p.employee & serious, left, 0)
    before = ytd.before(p.psn, ci_own)
    t = ins.ci_threshold
    scope = np.maximum(before + ci_own - t, 0) - np.maximum(before - t, 0)
    hifmi = np.minimum(pct(scope, ins.ci_bp), ins.ci_cap)
    left = left - hifmi
    funds = {"hifp_pay": hifp, "hifmi_pay": hifmi, "hifob_pay": hifob}
    for name, who, bp in (
        ("cvlserv_pay", p.civil_servant & serious, ins.civil_servant_bp),
        ("hifes_pay", p.enterprise_supp & (p.kind == INPATIENT), ins.enterprise_bp),
        ("maf_pay", p.assisted & serious & (rng.random(n) < ins.assistance_share), ins.assistance_bp),
        ("oth_pay", rng.random(n) < ins.other_share, ins.other_bp),
    ):
        funds[name] = np.where(who, pct(left, bp), 0)
        left = left - funds[name]
    fund_sum = inscp - left
    psn_part = medfee - fund_sum
    share = np.array([ins.personal_account_share[k] for k in KINDS])[p.kind]
    balance = yuan_fen(rng.uniform(0, 5000, n))  # what is left in the personal account
    acct = np.where(p.employee & (rng.random(n) < share), np.minimum(psn_part, balance), 0)
    return {
        "act_pay_dedc": dedc,
        **{k: funds[k] for k in FUND_FIELDS},
        "fund_pay_sumamt": fund_sum,
        "psn_part_amt": psn_part,
        "acct_pay": acct,
        "psn_cash_pay": psn_part - acct,
        "hifmi_inscp_scp_amt": scope,
    }


__all__ = ["KINDS", "Buckets", "Payer", "YearToDate", "make_buckets", "pay_funds", "totals"]
