"""Loss ratio per plan-year and over the years the plan is judged on (赔付率), with the claims not yet
reported estimated by the chain ladder.

Everything is read as of a date (the platform's today by default) and read only; amounts are integer fen,
ratios basis points, and each figure rests on a basis stated here and in ``BASIS`` (shown on the page):

- earned premium: each paid policy's premium pro rata by day over its own cover period, up to the date; a
  refunded policy earns up to the day it was cancelled (that day is covered), a suspended or ended one up
  to the day before it took effect; unpaid and cancelled orders earn nothing. Summed exactly, rounded once.
- paid: the stored settlements' payouts (refunds negative) of one-stop settlement and of claims paid to the
  resident, and the year-end adjustments.
- case reserves: what approved claims settled but not yet paid to the resident owe (known to the fen), and
  for claims not yet decided their filed personal share times the ratio of payout to filed share of the
  plan-year's decided claims (rejections included), or the filed share whole while none is decided.
- IBNR: the chain ladder (``ibnr``) on the plan-year's triangle of settled amounts by month of care
  (``begndate``) and months from it to the month the platform fixed the amount: the settlement time for a
  one-stop or file settlement (paid at discharge), the decision day for a claim's stay.
- loss ratio: incurred (paid + case reserves + IBNR) over earned premium; over several years the sum of
  incurred over the sum of earned of the years present (a year without policies in the database is shown
  as missing, never as zero), compared with the plan's ``loss_ratio_floor`` over ``loss_ratio_years``.
"""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

import numpy as np
import sqlalchemy as sa
from sqlalchemy.orm import Session

from huiminbao.claims.models import Claim, ClaimItem, ClaimState
from huiminbao.enrollment.models import Policy, PolicyStatus
from huiminbao.money import BP, bp_to_percent, round_half_up_div, to_yuan
from huiminbao.plans import Plan, list_plans
from huiminbao.settlement.models import Adjustment, Settlement, SettlementSource
from huiminbao.supervision.ibnr import ChainLadder, chain_ladder, from_cells, to_dict

EARNING = (PolicyStatus.ACTIVE, PolicyStatus.SUSPENDED, PolicyStatus.ENDED, PolicyStatus.REFUNDED)
UNDECIDED = (ClaimState.SUBMITTED, ClaimState.DOCUMENTS_REQUESTED, ClaimState.IN_REVIEW)
UNPAID = (ClaimState.APPROVED, ClaimState.PARTLY_APPROVED, ClaimState.PAYMENT_INSTRUCTED)
DECIDED = (*UNPAID, ClaimState.PAID, ClaimState.REJECTED)
BASIS = (
    "已赚保费：已缴费保单的保费按保障期逐日分摊至统计日；退保保单计至退保当日，暂停或终止的保单计至生效前一日。",
    "已付赔款：一站式结算与已支付理赔的赔付（含退费冲回）及年终调整。",
    "未决赔款准备金：已审批未支付理赔的应付金额；未审结理赔按申请的个人负担金额乘以本年度已审结理赔的赔付比例估计。",
    "已发生未报告赔款（IBNR）：按就医月份与结算月份的累计已付三角形，以链梯法（金额加权、无尾部因子）估计。",
    "赔付率 =（已付 + 未决 + IBNR）÷ 已赚保费；多年平均 = 各年合计发生赔款 ÷ 各年合计已赚保费（只计有数据的年份）。",
)


def valued_on(end: date | None, today: date) -> date:
    """The day the loss ratio is valued at: the period's end, or the platform's today when there is no end
    or it lies ahead (a later day would only add months in which nothing can have been paid yet)."""
    return min(end, today) if end else today


def earned_premium(*, session: Session, plan_id: str, as_of: date) -> tuple[int, int, int]:
    """(earned, written, policies): premium earned by ``as_of``, premium of the paid policies, their count."""
    groups = session.execute(
        sa.select(Policy.premium_fen, Policy.cover_start, Policy.cover_end, Policy.status, Policy.status_date, sa.func.count())
        .where(Policy.plan_id == plan_id, Policy.status.in_(EARNING))
        .group_by(Policy.premium_fen, Policy.cover_start, Policy.cover_end, Policy.status, Policy.status_date)
    ).all()  # fmt: skip
    earned, written, count = Fraction(0), 0, 0
    for premium, start, end, status, since, n in groups:
        last = min(as_of, end)
        if status == PolicyStatus.REFUNDED:
            last = min(last, since)
        elif status in (PolicyStatus.SUSPENDED, PolicyStatus.ENDED):
            last = min(last, since - timedelta(days=1))
        days = max((last - start).days + 1, 0)
        earned += Fraction(premium * n * days, (end - start).days + 1)
        written, count = written + premium * n, count + n
    return round_half_up_div(earned.numerator, earned.denominator), written, count


def _paid_rows(session: Session, plan_id: str) -> list[tuple[date, date, SettlementSource, bool, int]]:
    """(care day, day the amount was fixed, source, paid to the resident, payout) summed per distinct key."""
    paid_day = sa.func.date(Settlement.setl_time)
    rows = session.execute(
        sa.select(Settlement.begndate, paid_day, Settlement.source, Claim.decided_on, Claim.state, sa.func.sum(Settlement.payout_fen))
        .outerjoin(ClaimItem, ClaimItem.settlement_id == Settlement.id)
        .outerjoin(Claim, Claim.id == ClaimItem.claim_id)
        .where(Settlement.plan_id == plan_id)
        .group_by(Settlement.begndate, paid_day, Settlement.source, Claim.decided_on, Claim.state)
    ).all()  # fmt: skip
    out = []
    for care, settled, source, decided, state, fen in rows:
        day = decided if source == SettlementSource.CLAIM and decided else date.fromisoformat(str(settled)[:10])
        out.append((care, day, source, source != SettlementSource.CLAIM or state == ClaimState.PAID, int(fen)))
    return out


def _months(first: date, later: date) -> int:
    return (later.year - first.year) * 12 + later.month - first.month


def paid_triangle(rows: list[tuple[date, date, SettlementSource, bool, int]], plan: Plan, as_of: date):
    """The cumulative triangle of settled fen: origin ``YYYY-MM`` of care from the cover's first month to the
    valuation month, age in months from it to the month the amount was fixed; None before cover starts."""
    last = min(as_of, plan.cover_end)
    if last < plan.cover_start:
        return None
    start = plan.cover_start.replace(day=1)
    width = _months(start, as_of) + 1
    height = _months(start, last) + 1
    grid = np.zeros((height, width), dtype=np.int64)
    for care, day, *_, fen in rows:
        if day <= as_of and start <= care <= last:
            grid[_months(start, care), _months(care.replace(day=1), day)] += fen
    cells = []
    for i in range(len(grid)):
        origin = date(start.year + (start.month - 1 + i) // 12, (start.month - 1 + i) % 12 + 1, 1)
        cumulative = np.cumsum(grid[i])
        cells += [(f"{origin:%Y-%m}", age, float(cumulative[age])) for age in range(width - i)]
    return from_cells(cells)


def _in_fen(result: ChainLadder) -> ChainLadder:
    """The chain ladder's ultimates rounded half up to the fen, IBNR their difference from the latest."""
    ultimate = np.array([float(Decimal(repr(float(u))).quantize(Decimal(1), ROUND_HALF_UP)) for u in result.ultimate])
    return dataclasses.replace(result, ultimate=ultimate, ibnr=ultimate - result.latest)


def _fen(value: float) -> str:
    return to_yuan(round(value))


def ibnr(*, session: Session, plan: Plan, as_of: date) -> dict:
    """The plan-year's paid triangle, its age-to-age and cumulative factors, and latest, ultimate and IBNR
    per month of care and in total (yuan), JSON-ready."""
    triangle = paid_triangle(_paid_rows(session, plan.id), plan, as_of)
    body = {"plan": plan.id, "as_of": as_of.isoformat(), "unit": "月"}
    if triangle is None:
        return {**body, "origins": [], "ages": [], "triangle": [], "factors": [], "cdf": [], "rows": [],
                "total": {"latest": "0.00", "ultimate": "0.00", "ibnr": "0.00"}}  # fmt: skip
    return {**body, **to_dict(_in_fen(chain_ladder(triangle)), amount=_fen)}


def plan_year(*, session: Session, plan: Plan, as_of: date) -> dict | None:
    """One plan-year's figures (fen and bp as ints, for callers to format), or None when the database holds
    no paid policy of it."""
    earned, written, policies = earned_premium(session=session, plan_id=plan.id, as_of=as_of)
    if not policies:
        return None
    rows = _paid_rows(session, plan.id)
    due = [r for r in rows if r[1] <= as_of]
    one_stop = sum(r[4] for r in due if r[2] != SettlementSource.CLAIM)
    claims = sum(r[4] for r in due if r[2] == SettlementSource.CLAIM and r[3])
    unpaid = sum(r[4] for r in due if r[2] == SettlementSource.CLAIM and not r[3])
    adjustments = session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(Adjustment.amount_fen), 0)).where(Adjustment.plan_id == plan.id)
    )
    open_fen, open_count, estimate = _open_claims(session, plan.id, as_of)
    triangle = paid_triangle(rows, plan, as_of)
    projected = int(_in_fen(chain_ladder(triangle)).ibnr.sum()) if triangle is not None else 0
    paid = one_stop + claims + int(adjustments)
    reserves = unpaid + estimate
    incurred = paid + reserves + projected
    return {
        "year": plan.year, "plan": plan.id, "policies": policies, "written": written, "earned": earned,
        "one_stop": one_stop, "claims": claims, "adjustments": int(adjustments), "paid": paid,
        "approved_unpaid": unpaid, "open_claims": open_count, "open_claimed": open_fen, "open_estimate": estimate,
        "reserves": reserves, "ibnr": projected, "incurred": incurred,
        "loss_ratio_bp": round_half_up_div(incurred * BP, earned) if earned else None,
    }  # fmt: skip


def _open_claims(session: Session, plan_id: str, as_of: date) -> tuple[int, int, int]:
    """(filed share, count, estimated payout) of the claims filed by ``as_of`` and not yet decided."""
    by_state = session.execute(
        sa.select(Claim.state, sa.func.count(), sa.func.sum(Claim.claimed_fen), sa.func.sum(sa.func.coalesce(Claim.payout_fen, 0)))
        .where(Claim.plan_id == plan_id, Claim.submitted_on <= as_of, Claim.state.in_((*UNDECIDED, *DECIDED)))
        .group_by(Claim.state)
    ).all()  # fmt: skip
    filed = sum(int(f) for s, _, f, _ in by_state if s in UNDECIDED)
    count = sum(n for s, n, _, _ in by_state if s in UNDECIDED)
    decided_filed = sum(int(f) for s, _, f, _ in by_state if s in DECIDED)
    decided_paid = sum(int(p) for s, _, _, p in by_state if s in DECIDED)
    estimate = round_half_up_div(filed * decided_paid, decided_filed) if decided_filed > 0 else filed
    return filed, count, estimate


def judged_years(plan: Plan) -> list[tuple[int, Plan | None]]:
    """The plan-years the plan is judged on: its own and the city's earlier years up to ``loss_ratio_years``,
    oldest first, each with its plan file (None where there is none)."""
    span = plan.loss_ratio_years or 1
    years = range(plan.year - span + 1, plan.year + 1)
    found: dict[int, Plan] = {plan.year: plan}
    for other in list_plans():
        if other.city == plan.city and other.year in years and other.year not in found:
            found[other.year] = other
    return [(y, found.get(y)) for y in years]


def _yuan_year(figures: dict) -> dict:
    """A year's figures at the edge: yuan strings, the ratio as a percentage and in bp."""
    money = {k: to_yuan(v) for k, v in figures.items() if isinstance(v, int) and k not in ("year", "policies", "open_claims", "loss_ratio_bp")}  # fmt: skip
    ratio = figures["loss_ratio_bp"]
    return {**figures, **money, "present": True, "loss_ratio": None if ratio is None else bp_to_percent(ratio)}


def loss_ratio(*, session: Session, plan: Plan, as_of: date) -> dict:
    """The loss ratio of each year the plan is judged on and their average against the plan's floor, with
    Chinese warnings when the projection falls short; JSON-ready (yuan strings, percentages, and ``*_bp``)."""
    years, earned, incurred, present = [], 0, 0, []
    for year, other in judged_years(plan):
        figures = plan_year(session=session, plan=other, as_of=as_of) if other else None
        if figures is None:
            years.append({"year": year, "plan": other.id if other else None, "present": False})
            continue
        years.append(_yuan_year(figures))
        if figures["earned"]:
            earned, incurred = earned + figures["earned"], incurred + figures["incurred"]
            present.append(year)
    average = round_half_up_div(incurred * BP, earned) if earned else None
    floor, span = plan.loss_ratio_floor, plan.loss_ratio_years or 1
    meets = None if floor is None or average is None else average >= floor
    return {
        "plan": plan.id, "name": plan.name, "city": plan.city, "year": plan.year, "as_of": as_of.isoformat(),
        "floor": None if floor is None else bp_to_percent(floor), "floor_bp": floor, "years_judged": span,
        "cite": plan.loss_ratio_cite, "years": years,
        "average": {
            "years": present, "earned": to_yuan(earned), "incurred": to_yuan(incurred), "loss_ratio_bp": average,
            "loss_ratio": None if average is None else bp_to_percent(average), "meets": meets,
        },
        "warnings": _warnings(plan, years, present, average),
        "basis": list(BASIS),
    }  # fmt: skip


def _warnings(plan: Plan, years: list[dict], present: list[int], average: int | None) -> list[str]:
    """What a supervisor must not miss, in Chinese: the projection below the floor, years missing."""
    floor, span = plan.loss_ratio_floor, plan.loss_ratio_years or 1
    out = []
    if floor is None:
        out.append(f"{plan.name}未规定赔付率要求，以下数字仅供参考")
    elif average is not None and average < floor:
        what = f" {span} 年平均赔付率" if span > 1 else "年度赔付率"
        out.append(f"预计{what} {bp_to_percent(average)} 低于方案要求的 {bp_to_percent(floor)}")
    missing = [str(y["year"]) for y in years if not y["present"]]
    if missing:
        out.append(f"{'、'.join(missing)} 年度无保单数据，平均只计 {len(present)} 个年度")
    if floor is not None and span > 1:
        low = [str(y["year"]) for y in years if y["present"] and (y["loss_ratio_bp"] or floor) < floor]
        if low:
            out.append(f"{'、'.join(low)} 年度赔付率低于 {bp_to_percent(floor)}（按 {span} 年平均考核）")
    return out
