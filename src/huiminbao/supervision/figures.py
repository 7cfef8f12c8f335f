"""The figures the bureau's supervisors and the operator watch a plan by: enrollment and renewal, premium,
payouts, the people who benefited, claim times and complaints. The dashboards, the JSON API and the
regulator's reports all read these, so a figure means the same wherever it is shown.

Each function reads only (keyword-only ``session``, never commits) and returns a JSON-ready dict: money as
integer fen (keys ending ``_fen``; ``to_edge`` turns them into yuan strings for the API and the pages),
ratios in basis points (``_bp``), days as integers. ``start`` and ``end`` (both inclusive, either may be
None) limit each figure to the events of a period, each function saying which date it reads, so a monthly
report calls them for one month.

Small cells: a row counting fewer than ``MIN_CELL`` persons shows None for its persons and for every figure
drawn from them, with ``suppressed`` True (pages show "<10"). Where a list of rows adds up to a total that
is shown, one suppressed row alone could be recovered by subtraction, so ``protect`` then suppresses the
next smallest row too (complementary suppression); a total under ``MIN_CELL`` is suppressed itself. Claims
and service cases are counts of the service's work, not of people, and are shown whole, as
``service.case_counts`` shows them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any

import polars as pl
import sqlalchemy as sa
from sqlalchemy.orm import Session

from huiminbao.calendar import default_calendar
from huiminbao.calendar.workdays import CalendarError
from huiminbao.claims.models import Claim, ClaimState
from huiminbao.claims.states import OPEN, STATE_NAMES
from huiminbao.enrollment.lifecycle import CancelRefused, refund_due
from huiminbao.enrollment.models import InsuredPerson, OrderStatus, Policy, PolicyOrder, PolicyStatus
from huiminbao.enrollment.service import MIN_CELL
from huiminbao.enrollment.stats import AGE_BANDS, COUNTED, cross_table, enrollment_frame
from huiminbao.money import BP, round_half_up_div, to_yuan
from huiminbao.plans import Plan, list_plans
from huiminbao.service.models import RUNNING, CaseCategory, CaseKind, CaseStatus, ServiceCase
from huiminbao.service.service import CATEGORY_NAMES, KIND_NAMES, STATUS_NAMES
from huiminbao.settings import today as platform_today
from huiminbao.settlement.models import Adjustment, Settlement, SettlementLine, SettlementSource
from huiminbao.vocabulary import INSUTYPES_KNOWN, POPULATIONS

BEIJING = timezone(timedelta(hours=8))
PAYOUT_BANDS = (
    (0, "1 万元以下"),
    (1_000_000, "1-5 万元"),
    (5_000_000, "5-10 万元"),
    (10_000_000, "10-50 万元"),
    (50_000_000, "50 万元以上"),
)  # lower bounds in fen of a person's payout in the period
PAY_DAY_BANDS = ((0, "3 个工作日内"), (4, "4-7 个工作日"), (8, "8-15 个工作日"), (16, "超过 15 个工作日"))
CLOSE_DAY_BANDS = ((0, "3 天内"), (4, "4-7 天"), (8, "8-15 天"), (16, "15 天以上"))
SOURCE_NAMES = {"onestop": "一站式结算", "claim": "理赔申请"}


# --- suppression and helpers -----------------------------------------------------------------------


def protect(rows: list[dict[str, Any]], *, count: str, hide: Sequence[str] = (), total_shown: bool = True) -> None:
    """Suppress, in place, the rows counting 1 to ``MIN_CELL`` - 1 persons: ``count`` and the ``hide`` fields
    become None and ``suppressed`` True. When the rows add up to a total that is shown and exactly one row
    was suppressed, the smallest other non-empty row is suppressed as well (``complement`` True: it is not
    small, and pages say so rather than "<10"), so no subtraction recovers the small one."""
    for r in rows:
        r["suppressed"], r["complement"] = 0 < r[count] < MIN_CELL, False
    small = [r for r in rows if r["suppressed"]]
    if total_shown and len(small) == 1:
        others = sorted((r for r in rows if not r["suppressed"] and r[count] > 0), key=lambda r: r[count])
        if others:
            others[0]["suppressed"] = others[0]["complement"] = True
    for r in rows:
        if r["suppressed"]:
            for key in (count, *hide):
                r[key] = None


def ratio_bp(part: int, whole: int) -> int | None:
    """``part / whole`` in basis points, rounded half up; None when ``whole`` is 0."""
    return round_half_up_div(part * BP, whole) if whole > 0 else None


def nearest_rank(values: Sequence[int], share: float) -> int | None:
    """The nearest-rank percentile of sorted ``values`` (the median at 0.5): a value that occurs, no
    interpolation; None for no values."""
    if not values:
        return None
    rank = max(1, -(-int(share * 1000) * len(values) // 1000))  # ceil(share * n) without float error
    return values[rank - 1]


def banded(values: Iterable[int], bands: Sequence[tuple[int, str]]) -> list[int]:
    """How many ``values`` fall in each band (lower bounds ascending)."""
    counts = [0] * len(bands)
    for v in values:
        i = max(i for i, (low, _) in enumerate(bands) if v >= low or i == 0)
        counts[i] += 1
    return counts


def to_edge(value: Any) -> Any:
    """A figure as the API and the pages give it: every ``*_fen`` key becomes the same key without the
    suffix, holding yuan with two decimals (None stays None)."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            if k.endswith("_fen") and (v is None or isinstance(v, int)):
                out[k.removesuffix("_fen")] = None if v is None else to_yuan(v)
            else:
                out[k] = to_edge(v)
        return out
    if isinstance(value, list):
        return [to_edge(v) for v in value]
    return value


def _period(start: date | None, end: date | None) -> dict[str, str | None]:
    return {"start": start.isoformat() if start else None, "end": end.isoformat() if end else None}


def _dates(col: Any, start: date | None, end: date | None) -> list[Any]:
    """Conditions keeping a date column within the period."""
    where = []
    if start is not None:
        where.append(col >= start)
    if end is not None:
        where.append(col <= end)
    return where


def _times(col: Any, start: date | None, end: date | None) -> list[Any]:
    """Conditions keeping a naive Beijing-time column (``setl_time``) within the period's days."""
    where = []
    if start is not None:
        where.append(col >= datetime.combine(start, time()))
    if end is not None:
        where.append(col < datetime.combine(end + timedelta(days=1), time()))
    return where


def _beijing_day(moment: datetime) -> date:
    """The Beijing date of a stored UTC timestamp (SQLite gives it back naive)."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(BEIJING).date()


def _within(day: date, start: date | None, end: date | None) -> bool:
    return (start is None or day >= start) and (end is None or day <= end)


def liabilities(plan: Plan) -> list[tuple[str, str]]:
    """The plan's liabilities over all tiers, each id once, in the files' order, with its name."""
    seen: dict[str, str] = {}
    for tier in plan.tiers:
        for liab in tier.liabilities:
            seen.setdefault(liab.id, liab.name)
    return list(seen.items())


def previous_plan(plan: Plan) -> Plan | None:
    """The same city's plan of the year before (same region code), if the platform has one."""
    found = [p for p in list_plans() if p.region_code == plan.region_code and p.year == plan.year - 1]
    return min(found, key=lambda p: p.id) if found else None


# --- enrollment -----------------------------------------------------------------------------------


def enrollment(*, session: Session, plan: Plan, start: date | None = None, end: date | None = None) -> dict[str, Any]:
    """The roster's basic insured of the plan's area against the people the plan covers, by district
    (``insu_admdvs``), age band (at the start of cover), insurance type and population tag, with the rate;
    and the renewal rate. With a period, a person counts as covered when their policy covered some day of
    it (cover begun by ``end``, not suspended or ended before ``start``). Rows are suppressed on the roster
    count (``insured``), the margins by district, age band and type together with the cross table of the
    enrollment page (``enrollment.stats.cross_table``), so neither gives back what the other hides;
    population tags overlap (a person may carry two), so they have no total to protect.
    Renewal: of the persons who held a policy in the same city's plan of the year before, the share who hold
    one in this plan (None when the platform has no such plan)."""
    frame = enrollment_frame(session=session, plan=plan, start=start, end=end)
    insured, bought = frame.height, int(frame["bought"].sum() or 0)
    total = {"insured": insured, "policies": bought, "rate_bp": ratio_bp(bought, insured)}
    protect([total], count="insured", hide=("policies", "rate_bp"), total_shown=False)

    def margin(frame: pl.DataFrame, col: str, names: dict[str, str], order: Sequence[str] | None = None) -> list:
        grouped = frame.group_by(col).agg(pl.len().alias("insured"), pl.col("bought").sum().alias("policies"))
        rows = [
            {
                "key": r[col],
                "name": names.get(r[col], r[col]),
                "insured": int(r["insured"]),
                "policies": int(r["policies"]),
                "rate_bp": ratio_bp(int(r["policies"]), int(r["insured"])),
            }
            for r in grouped.iter_rows(named=True)
        ]
        rank = {k: i for i, k in enumerate(order or ())}
        rows.sort(key=lambda r: (rank.get(r["key"], len(rank)), r["key"]))
        return rows

    _, _, gone = cross_table(frame)  # one suppression with the cross table (enrollment_cells)

    def hide(rows: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
        for r in rows:
            r["suppressed"] = r["key"] in gone[key]
            r["complement"] = r["suppressed"] and r["insured"] >= MIN_CELL
            if r["suppressed"]:
                r["insured"] = r["policies"] = r["rate_bp"] = None
        return rows

    by_district = hide(margin(frame, "area", {}), "area")
    by_age = hide(margin(frame, "age_band", {}, [label for _, label in AGE_BANDS]), "age_band")
    by_insutype = hide(margin(frame, "insutype", INSUTYPES_KNOWN), "insutype")
    tagged = frame.explode("populations").drop_nulls("populations")
    by_population = margin(tagged, "populations", POPULATIONS, list(POPULATIONS))
    protect(by_population, count="insured", hide=("policies", "rate_bp"), total_shown=False)
    return {
        "plan": plan.id,
        **_period(start, end),
        "total": total,
        "by_district": by_district,
        "by_age_band": by_age,
        "by_insutype": by_insutype,
        "by_population": by_population,
        "renewal": renewal(session=session, plan=plan),
    }


def renewal(*, session: Session, plan: Plan) -> dict[str, Any] | None:
    """Persons who held a counted policy in the previous year's plan of the city, and how many of them hold
    one in this plan; None without a previous plan. Suppressed when either count is under ``MIN_CELL``."""
    before = previous_plan(plan)
    if before is None:
        return None

    def holders(plan_id: str) -> Any:
        return sa.select(Policy.person_id).where(Policy.plan_id == plan_id, Policy.status.in_(COUNTED))

    previous = session.scalar(sa.select(sa.func.count()).select_from(holders(before.id).subquery())) or 0
    renewed = (
        session.scalar(
            sa.select(sa.func.count()).select_from(
                holders(plan.id).where(Policy.person_id.in_(holders(before.id))).subquery()
            )
        )
        or 0
    )
    small = 0 < previous < MIN_CELL or 0 < renewed < MIN_CELL
    return {
        "previous_plan": before.id,
        "previous": None if small else previous,
        "renewed": None if small else renewed,
        "rate_bp": None if small else ratio_bp(renewed, previous),
        "suppressed": small,
    }


# --- premium --------------------------------------------------------------------------------------


def premium(*, session: Session, plan: Plan, start: date | None = None, end: date | None = None) -> dict[str, Any]:
    """Premium collected by month: policies of paid orders on the Beijing date their order was paid
    (``paid_at``), less the refunds of refunded policies on the day of their cancellation (the plan's refund
    rule, as ``lifecycle.cancel`` paid it). A month's row counts the policies paid or refunded in it and is
    suppressed under ``MIN_CELL`` of them (its amounts would show what a few people paid)."""
    rows = session.execute(
        sa.select(PolicyOrder.paid_at, Policy)
        .join(PolicyOrder, PolicyOrder.id == Policy.order_id)
        .where(Policy.plan_id == plan.id, PolicyOrder.status == OrderStatus.PAID, PolicyOrder.paid_at.is_not(None))
    ).all()
    months: dict[str, dict[str, int]] = {}

    def month(day: date) -> dict[str, int]:
        return months.setdefault(day.strftime("%Y-%m"), {"policies": 0, "refunds": 0, "collected": 0, "refunded": 0})

    for paid_at, policy in rows:
        paid_on = _beijing_day(paid_at)
        if _within(paid_on, start, end):
            m = month(paid_on)
            m["policies"] += 1
            m["collected"] += policy.premium_fen
        if policy.status == PolicyStatus.REFUNDED and _within(policy.status_date, start, end):
            try:
                back = refund_due(plan, policy, policy.status_date)[0]
            except CancelRefused:  # the plan's rule changed since the refund: no amount to show for it
                back = 0
            m = month(policy.status_date)
            m["refunds"] += 1
            m["refunded"] += back
    out = [
        {
            "month": k,
            "policies": v["policies"],
            "refunds": v["refunds"],
            "persons": v["policies"] + v["refunds"],
            "collected_fen": v["collected"],
            "refunded_fen": v["refunded"],
            "net_fen": v["collected"] - v["refunded"],
        }
        for k, v in sorted(months.items())
    ]
    total = {
        "policies": sum(r["policies"] for r in out),
        "refunds": sum(r["refunds"] for r in out),
        "persons": sum(r["persons"] for r in out),
        "collected_fen": sum(r["collected_fen"] for r in out),
        "refunded_fen": sum(r["refunded_fen"] for r in out),
        "net_fen": sum(r["net_fen"] for r in out),
    }
    money = ("policies", "refunds", "collected_fen", "refunded_fen", "net_fen")
    protect([total], count="persons", hide=money, total_shown=False)
    protect(out, count="persons", hide=money, total_shown=not total["suppressed"])
    return {"plan": plan.id, **_period(start, end), "total": total, "by_month": out}


# --- payouts and the people who benefited ----------------------------------------------------------


def _lines(session: Session, plan: Plan, start: date | None, end: date | None) -> pl.DataFrame:
    """The payout lines of the plan's settlements whose ``setl_time`` falls in the period (refunds
    negative), with person, month and source (``onestop``: sent by a hospital or the bureau's file;
    ``claim``: paid on an approved claim)."""
    rows = session.execute(
        sa.select(
            Settlement.person_id,
            Settlement.setl_time,
            Settlement.source,
            SettlementLine.liability,
            SettlementLine.payout,
        )
        .join(SettlementLine, SettlementLine.settlement_id == Settlement.id)
        .where(Settlement.plan_id == plan.id, SettlementLine.payout != 0, *_times(Settlement.setl_time, start, end))
    ).all()
    schema = {"person": pl.Int64, "at": pl.Datetime, "source": pl.Utf8, "liability": pl.Utf8, "payout": pl.Int64}
    frame = pl.DataFrame(
        [(p, at, "claim" if s == SettlementSource.CLAIM else "onestop", li, fen) for p, at, s, li, fen in rows],
        schema=schema,
        orient="row",
    )
    return frame.with_columns(pl.col("at").dt.strftime("%Y-%m").alias("month"))


def _paid(frame: pl.DataFrame, by: str, key: Any) -> dict[str, int]:
    """Payout and persons paid (net payout above zero) in the rows where ``by`` equals ``key``."""
    part = frame.filter(pl.col(by) == key)
    per_person = part.group_by("person").agg(pl.col("payout").sum())
    return {"payout_fen": int(part["payout"].sum() or 0), "persons": int((per_person["payout"] > 0).sum())}


def payouts(*, session: Session, plan: Plan, start: date | None = None, end: date | None = None) -> dict[str, Any]:
    """What the plan paid on settlements whose ``setl_time`` (the basic-insurance settlement, Beijing time)
    falls in the period, net of refunds: by liability, by month and by source (one-stop or claim), with the
    one-stop share of payout and of persons paid (a person paid both ways counts in each). Year-end
    adjustments made in the period (their Beijing date) are reported apart, not mixed into the months. A row
    is suppressed under ``MIN_CELL`` persons paid, its payout with it."""
    frame = _lines(session, plan, start, end)
    per_person = frame.group_by("person").agg(pl.col("payout").sum())
    total = {"payout_fen": int(frame["payout"].sum() or 0), "persons": int((per_person["payout"] > 0).sum())}
    protect([total], count="persons", hide=("payout_fen",), total_shown=False)
    shown = not total["suppressed"]
    by_liability = [{"key": k, "name": n, **_paid(frame, "liability", k)} for k, n in liabilities(plan)]
    by_month = [{"month": m, **_paid(frame, "month", m)} for m in sorted(frame["month"].unique().to_list())]
    by_source = [{"key": k, "name": n, **_paid(frame, "source", k)} for k, n in SOURCE_NAMES.items()]
    for rows in (by_liability, by_month, by_source):
        protect(rows, count="persons", hide=("payout_fen",), total_shown=shown)
    onestop = by_source[0]
    share = {
        "payout_bp": None
        if onestop["suppressed"] or not shown
        else ratio_bp(onestop["payout_fen"], total["payout_fen"]),
        "persons_bp": None if onestop["suppressed"] or not shown else ratio_bp(onestop["persons"], total["persons"]),
    }
    return {
        "plan": plan.id,
        **_period(start, end),
        "total": total,
        "by_liability": by_liability,
        "by_month": by_month,
        "by_source": by_source,
        "onestop_share": share,
        "adjustments": _adjustments(session, plan, start, end),
    }


def _adjustments(session: Session, plan: Plan, start: date | None, end: date | None) -> dict[str, Any]:
    """Year-end adjustments made in the period, by liability: top-ups, recoveries, persons concerned."""
    rows = session.execute(
        sa.select(Adjustment.created_at, Adjustment.person_id, Adjustment.liability, Adjustment.amount_fen).where(
            Adjustment.plan_id == plan.id
        )
    ).all()
    kept = [(p, li, fen) for at, p, li, fen in rows if _within(_beijing_day(at), start, end)]
    by_liability = []
    for key, name in liabilities(plan):
        mine = [(p, fen) for p, li, fen in kept if li == key]
        by_liability.append(
            {
                "key": key,
                "name": name,
                "persons": len({p for p, _ in mine}),
                "topup_fen": sum(fen for _, fen in mine if fen > 0),
                "recovered_fen": -sum(fen for _, fen in mine if fen < 0),
            }
        )
    total = {
        "persons": len({p for p, _, _ in kept}),
        "topup_fen": sum(fen for _, _, fen in kept if fen > 0),
        "recovered_fen": -sum(fen for _, _, fen in kept if fen < 0),
    }
    protect([total], count="persons", hide=("topup_fen", "recovered_fen"), total_shown=False)
    protect(by_liability, count="persons", hide=("topup_fen", "recovered_fen"), total_shown=not total["suppressed"])
    return {"total": total, "by_liability": by_liability}


def beneficiaries(
    *, session: Session, plan: Plan, start: date | None = None, end: date | None = None
) -> dict[str, Any]:
    """The persons the plan paid on settlements whose ``setl_time`` falls in the period (net of refunds,
    above zero), and how their payouts spread over bands (``PAYOUT_BANDS``): persons and payout per band,
    suppressed under ``MIN_CELL`` persons; mean, median and 90th percentile (nearest rank) when at least
    ``MIN_CELL`` persons were paid."""
    frame = _lines(session, plan, start, end)
    amounts = sorted(int(v) for v in frame.group_by("person").agg(pl.col("payout").sum())["payout"].to_list() if v > 0)
    bounds = [low for low, _ in PAYOUT_BANDS[1:]]
    bands = []
    for i, (low, name) in enumerate(PAYOUT_BANDS):
        high = bounds[i] if i < len(bounds) else None
        inside = [a for a in amounts if a >= low and (high is None or a < high)]
        bands.append({"key": i, "name": name, "persons": len(inside), "payout_fen": sum(inside)})
    enough = len(amounts) >= MIN_CELL
    total = {
        "persons": len(amounts),
        "payout_fen": sum(amounts),
        "mean_fen": round_half_up_div(sum(amounts), len(amounts)) if enough else None,
        "median_fen": nearest_rank(amounts, 0.5) if enough else None,
        "p90_fen": nearest_rank(amounts, 0.9) if enough else None,
    }
    protect([total], count="persons", hide=("payout_fen",), total_shown=False)
    protect(bands, count="persons", hide=("payout_fen",), total_shown=enough)
    return {"plan": plan.id, **_period(start, end), "total": total, "by_band": bands}


# --- claims and complaints ------------------------------------------------------------------------


def claims(
    *, session: Session, plan: Plan, start: date | None = None, end: date | None = None, today: date | None = None
) -> dict[str, Any]:
    """Claims filed in the period (``submitted_on``), by state; for the paid ones, the statutory working
    days from submission to payment (``paid_on``; the days waiting for documents included, as the resident
    waits them): median, 90th percentile (nearest rank), spread over bands and how many took longer than the
    plan's ``claim_days``; and how many open claims are past their due date on ``today`` (the platform's
    date by default). Counts of the service's work, not suppressed."""
    today = today or platform_today()
    rows = session.execute(
        sa.select(Claim.state, Claim.submitted_on, Claim.paid_on, Claim.due_date).where(
            Claim.plan_id == plan.id, *_dates(Claim.submitted_on, start, end)
        )
    ).all()
    counts = {s: 0 for s in ClaimState}
    waits: list[int] = []
    unmeasured = 0
    calendar = default_calendar()
    for state, submitted, paid, _ in rows:
        counts[state] += 1
        if state == ClaimState.PAID and paid is not None:
            try:
                waits.append(calendar.working_days_between(submitted, paid))
            except CalendarError:  # a year whose holidays are not published: no working days to count
                unmeasured += 1
    waits.sort()
    overdue = sum(1 for state, _, _, due in rows if state in OPEN and due is not None and due < today)
    limit = plan.claim_days
    return {
        "plan": plan.id,
        **_period(start, end),
        "today": today.isoformat(),
        "total": len(rows),
        "by_state": [{"key": s.value, "name": STATE_NAMES[s], "count": counts[s]} for s in ClaimState],
        "days_to_pay": {
            "paid": len(waits) + unmeasured,
            "measured": len(waits),
            "median": nearest_rank(waits, 0.5),
            "p90": nearest_rank(waits, 0.9),
            "limit": limit,
            "late": None if limit is None else sum(1 for w in waits if w > limit),
            "by_band": [
                {"key": i, "name": name, "count": n}
                for i, ((_, name), n) in enumerate(zip(PAY_DAY_BANDS, banded(waits, PAY_DAY_BANDS), strict=True))
            ],
        },
        "overdue": overdue,
    }


def complaints(
    *, session: Session, plan: Plan, start: date | None = None, end: date | None = None, today: date | None = None
) -> dict[str, Any]:
    """Service cases opened in the period (``opened_on``) about persons of the plan's area (cases are not
    kept per plan; a caller not on the roster belongs to no plan and is not counted here), by category and
    kind and by status; the calendar days from opening to closing of the closed ones (median, 90th
    percentile by nearest rank, bands); and how many running cases are past due on ``today``."""
    today = today or platform_today()
    rows = session.execute(
        sa.select(ServiceCase.kind, ServiceCase.category, ServiceCase.status, ServiceCase.opened_on,
                  ServiceCase.closed_on, ServiceCase.due_date)
        .join(InsuredPerson, InsuredPerson.id == ServiceCase.person_id)
        .where(
            InsuredPerson.insu_admdvs.startswith(plan.eligibility.admdvs_prefix),
            *_dates(ServiceCase.opened_on, start, end),
        )
    ).all()  # fmt: skip
    closes = sorted(
        (closed - opened).days
        for _, _, status, opened, closed, _ in rows
        if status == CaseStatus.CLOSED and closed is not None
    )
    by_category = [
        {
            "key": c.value,
            "name": CATEGORY_NAMES[c],
            **{k.value: sum(1 for kind, cat, *_ in rows if kind == k and cat == c) for k in CaseKind},
        }
        for c in CaseCategory
    ]
    return {
        "plan": plan.id,
        **_period(start, end),
        "today": today.isoformat(),
        "total": len(rows),
        "kinds": [
            {"key": k.value, "name": KIND_NAMES[k], "count": sum(1 for r in rows if r[0] == k)} for k in CaseKind
        ],
        "by_category": by_category,
        "by_status": [
            {"key": s.value, "name": STATUS_NAMES[s], "count": sum(1 for r in rows if r[2] == s)} for s in CaseStatus
        ],
        "days_to_close": {
            "closed": len(closes),
            "median": nearest_rank(closes, 0.5),
            "p90": nearest_rank(closes, 0.9),
            "by_band": [
                {"key": i, "name": name, "count": n}
                for i, ((_, name), n) in enumerate(zip(CLOSE_DAY_BANDS, banded(closes, CLOSE_DAY_BANDS), strict=True))
            ],
        },
        "overdue": sum(1 for r in rows if r[2] in RUNNING and r[5] < today),
    }


def dashboard(
    *, session: Session, plan: Plan, start: date | None = None, end: date | None = None, today: date | None = None
) -> dict[str, Any]:
    """Every figure of the plan for the period, as the dashboards show them (money still in fen); ``today``
    (the platform's date by default) is the day claims and cases are overdue on."""
    return {
        "plan": plan.id,
        "name": plan.name,
        **_period(start, end),
        "enrollment": enrollment(session=session, plan=plan, start=start, end=end),
        "premium": premium(session=session, plan=plan, start=start, end=end),
        "payouts": payouts(session=session, plan=plan, start=start, end=end),
        "beneficiaries": beneficiaries(session=session, plan=plan, start=start, end=end),
        "claims": claims(session=session, plan=plan, start=start, end=end, today=today),
        "complaints": complaints(session=session, plan=plan, start=start, end=end, today=today),
    }


__all__ = [
    "PAYOUT_BANDS",
    "beneficiaries",
    "claims",
    "complaints",
    "dashboard",
    "enrollment",
    "liabilities",
    "payouts",
    "premium",
    "previous_plan",
    "protect",
    "renewal",
    "to_edge",
]
