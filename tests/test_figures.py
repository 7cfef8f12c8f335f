"""The supervision figures on small hand-made years, figure by figure to the fen and the person, and the
small-cell rule: nothing under 10 persons is shown, and no shown total gives a suppressed cell back."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from huiminbao.claims.models import ClaimState
from huiminbao.db import migrate
from huiminbao.db.session import Database
from huiminbao.enrollment.models import PolicyStatus
from huiminbao.plans import load_plan
from huiminbao.service.models import CaseCategory, CaseKind
from huiminbao.settlement.models import Adjustment, SettlementSource
from huiminbao.supervision import figures
from tests.figures_world import case, claim, person, policy, settle

PLAN = load_plan("liaocheng-2024")


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    url = f"sqlite:///{tmp_path / 'f.db'}"
    migrate.upgrade(url)
    d = Database.from_url(url)
    yield d
    d.dispose()


@pytest.fixture
def s(db: Database) -> Iterator[Session]:
    with db.sessions() as session:
        yield session


def rows(n: int) -> list[dict[str, int]]:
    return [{"persons": n}]


def test_protect_suppresses_small_cells_and_one_more_when_a_total_would_give_it_back() -> None:
    one = [{"persons": 25, "money": 1}, {"persons": 3, "money": 2}, {"persons": 40, "money": 3}, {"persons": 0}]
    one[3]["money"] = 0
    figures.protect(one, count="persons", hide=("money",))
    assert [(r["persons"], r["money"], r["suppressed"], r["complement"]) for r in one] == [
        (None, None, True, True),  # the next smallest, so 68 - 40 - 0 gives only the sum of two
        (None, None, True, False),
        (40, 3, False, False),
        (0, 0, False, False),
    ]
    two = [{"persons": 25}, {"persons": 3}, {"persons": 4}]
    figures.protect(two, count="persons")
    assert [r["persons"] for r in two] == [25, None, None]
    alone = [{"persons": 25}, {"persons": 3}]
    figures.protect(alone, count="persons", total_shown=False)
    assert [r["persons"] for r in alone] == [25, None]


def test_enrollment_by_district_age_type_and_population_with_suppression(s: Session) -> None:
    for i in range(30):
        p = person(s, area="371502", insutype="310", birth=date(1980, 1, 1))
        if i < 15:
            policy(s, p)
    for i in range(12):
        p = person(
            s, area="371521", insutype="390", birth=date(1950, 1, 1), tags="low_income;veteran" if i < 11 else ""
        )
        if i < 6:
            policy(s, p)
    for i in range(5):
        p = person(s, area="371522", insutype="390", birth=date(2010, 1, 1))
        if i < 2:
            policy(s, p, status=PolicyStatus.ENDED, status_date=date(2024, 2, 10))
    person(s, area="330802")  # another city's roster: not counted
    got = figures.enrollment(session=s, plan=PLAN)
    assert got["total"] == {"insured": 47, "policies": 23, "rate_bp": 4894, "suppressed": False, "complement": False}
    by = {r["key"]: (r["insured"], r["policies"], r["rate_bp"]) for r in got["by_district"]}
    assert by == {"371502": (30, 15, 5000), "371521": (None, None, None), "371522": (None, None, None)}
    assert [(r["name"], r["insured"]) for r in got["by_age_band"]] == [
        ("0-17 岁", None),
        ("40-59 岁", 30),
        ("70 岁及以上", None),
    ]
    assert [(r["name"], r["insured"], r["policies"]) for r in got["by_insutype"]] == [
        ("职工基本医疗保险", 30, 15),
        ("城乡居民基本医疗保险", 17, 8),
    ]
    pops = {r["key"]: (r["insured"], r["policies"], r["suppressed"]) for r in got["by_population"]}
    assert pops == {"veteran": (11, 6, False), "low_income": (11, 6, False)}
    assert got["renewal"] is None  # no Liaocheng 2023 on the platform
    # in March the two policies that ended in February no longer cover anyone
    march = figures.enrollment(session=s, plan=PLAN, start=date(2024, 3, 1), end=date(2024, 3, 31))
    assert march["total"]["policies"] == 21


def test_renewal_counts_last_years_holders_who_hold_this_year(s: Session) -> None:
    later = load_plan("liaocheng-2025")
    for i in range(12):
        p = person(s)
        policy(s, p)
        if i < 10:
            policy(s, p, plan="liaocheng-2025", year=2025)
    got = figures.renewal(session=s, plan=later)
    assert got == {
        "previous_plan": "liaocheng-2024",
        "previous": 12,
        "renewed": 10,
        "rate_bp": 8333,
        "suppressed": False,
    }
    s.rollback()
    for i in range(12):
        p = person(s)
        policy(s, p)
        if i < 4:
            policy(s, p, plan="liaocheng-2025", year=2025)
    assert figures.renewal(session=s, plan=later)["rate_bp"] is None


def test_premium_by_beijing_month_less_refunds(s: Session) -> None:
    for _ in range(12):
        policy(s, person(s), paid_at=datetime(2023, 11, 5, 2, tzinfo=UTC))
    for _ in range(10):  # 17:00 UTC on 30 November is 1 December in Beijing
        policy(s, person(s), paid_at=datetime(2023, 11, 30, 17, tzinfo=UTC))
    policy(
        s, person(s), paid_at=datetime(2023, 11, 6, 2, tzinfo=UTC), status=PolicyStatus.REFUNDED,
        status_date=date(2023, 12, 20),
    )  # fmt: skip
    got = figures.premium(session=s, plan=PLAN)
    assert got["by_month"] == [
        {"month": "2023-11", "policies": 13, "refunds": 0, "persons": 13, "collected_fen": 115700,
         "refunded_fen": 0, "net_fen": 115700, "suppressed": False, "complement": False},
        {"month": "2023-12", "policies": 10, "refunds": 1, "persons": 11, "collected_fen": 89000,
         "refunded_fen": 8900, "net_fen": 80100, "suppressed": False, "complement": False},
    ]  # fmt: skip
    assert got["total"]["net_fen"] == 195800
    december = figures.premium(session=s, plan=PLAN, start=date(2023, 12, 1), end=date(2023, 12, 31))
    assert [r["month"] for r in december["by_month"]] == ["2023-12"]


def _year(s: Session) -> None:
    """Persons 1-12 paid one-stop in March (person 1's stay refunded), 10 paid on claims in April, one
    one-stop in May under another liability."""
    pols = [policy(s, person(s)) for _ in range(23)]
    for pol in pols[:12]:
        settle(s, pol, datetime(2024, 3, 10, 9), {"inpatient_inscope": 100000, "inpatient_outscope": 0})
    settle(s, pols[0], datetime(2024, 3, 12, 9), {"inpatient_inscope": -100000}, refund=True)
    for pol in pols[12:22]:
        settle(s, pol, datetime(2024, 4, 30, 23, 59), {"specific_drugs": 2000000}, source=SettlementSource.CLAIM)
    settle(s, pols[22], datetime(2024, 5, 1, 0, 0), {"special_efficacy_drugs": 20000})
    s.add(Adjustment(plan_id=PLAN.id, person_id=pols[1].person_id, liability="inpatient_inscope", amount_fen=500,
                     paid_fen=100000, due_fen=100500))  # fmt: skip
    s.flush()


def test_payouts_by_liability_month_and_source(s: Session) -> None:
    _year(s)
    got = figures.payouts(session=s, plan=PLAN)
    assert got["total"] == {"payout_fen": 21120000, "persons": 22, "suppressed": False, "complement": False}
    assert [(r["key"], r["persons"], r["payout_fen"]) for r in got["by_liability"]] == [
        ("inpatient_inscope", 11, 1100000),
        ("inpatient_outscope", 0, 0),
        ("specific_drugs", None, None),  # suppressed with the one-person liability, which it would give back
        ("special_efficacy_drugs", None, None),
    ]
    assert [(r["month"], r["persons"], r["payout_fen"]) for r in got["by_month"]] == [
        ("2024-03", 11, 1100000),
        ("2024-04", None, None),
        ("2024-05", None, None),
    ]
    assert [(r["key"], r["persons"], r["payout_fen"]) for r in got["by_source"]] == [
        ("onestop", 12, 1120000),
        ("claim", 10, 20000000),
    ]
    assert got["onestop_share"] == {"payout_bp": 530, "persons_bp": 5455}
    assert got["adjustments"]["total"] == {
        "persons": None,
        "topup_fen": None,
        "recovered_fen": None,
        "suppressed": True,
        "complement": False,
    }
    april = figures.payouts(session=s, plan=PLAN, start=date(2024, 4, 1), end=date(2024, 4, 30))
    assert april["total"] == {"payout_fen": 20000000, "persons": 10, "suppressed": False, "complement": False}
    assert april["onestop_share"] == {"payout_bp": 0, "persons_bp": 0}


def test_beneficiaries_by_payout_band(s: Session) -> None:
    _year(s)
    got = figures.beneficiaries(session=s, plan=PLAN)
    assert got["total"] == {
        "persons": 22, "payout_fen": 21120000, "mean_fen": 960000, "median_fen": 100000, "p90_fen": 2000000,
        "suppressed": False, "complement": False,
    }  # fmt: skip
    assert [(r["name"], r["persons"], r["payout_fen"]) for r in got["by_band"]] == [
        ("1 万元以下", 12, 1120000),
        ("1-5 万元", 10, 20000000),
        ("5-10 万元", 0, 0),
        ("10-50 万元", 0, 0),
        ("50 万元以上", 0, 0),
    ]
    may = figures.beneficiaries(session=s, plan=PLAN, start=date(2024, 5, 1), end=date(2024, 5, 31))
    assert may["total"] == {
        "persons": None, "payout_fen": None, "mean_fen": None, "median_fen": None, "p90_fen": None,
        "suppressed": True, "complement": False,
    }  # fmt: skip
    assert may["by_band"][0]["persons"] is None


def test_claims_by_state_and_working_days_to_pay(s: Session) -> None:
    pol = policy(s, person(s))
    monday = date(2024, 6, 3)
    for paid in (date(2024, 6, 5), date(2024, 6, 7), date(2024, 6, 14)):  # 10 June is the Dragon Boat holiday
        claim(s, pol, ClaimState.PAID, monday, paid=paid)
    claim(s, pol, ClaimState.IN_REVIEW, monday, due=date(2024, 6, 12))
    claim(s, pol, ClaimState.SUBMITTED, date(2024, 6, 18), due=date(2024, 6, 27))
    claim(s, pol, ClaimState.REJECTED, date(2024, 5, 6))
    got = figures.claims(session=s, plan=PLAN, today=date(2024, 6, 20))
    states = {r["key"]: r["count"] for r in got["by_state"]}
    assert (got["total"], states["paid"], states["in_review"], states["rejected"], states["withdrawn"]) == (
        6,
        3,
        1,
        1,
        0,
    )
    days = got["days_to_pay"]
    assert (days["paid"], days["median"], days["p90"], days["limit"], days["late"]) == (3, 4, 8, 7, 1)
    assert [r["count"] for r in days["by_band"]] == [1, 1, 1, 0]
    assert got["overdue"] == 1
    june = figures.claims(session=s, plan=PLAN, start=date(2024, 6, 1), end=date(2024, 6, 30), today=date(2024, 6, 20))
    assert june["total"] == 5


def test_complaints_by_category_and_days_to_close(s: Session) -> None:
    p = person(s)
    elsewhere = person(s, area="330802")
    case(
        s,
        p,
        CaseKind.COMPLAINT,
        CaseCategory.CLAIM_TIME,
        date(2024, 3, 1),
        due=date(2024, 3, 8),
        closed=date(2024, 3, 4),
    )
    case(
        s,
        p,
        CaseKind.COMPLAINT,
        CaseCategory.CLAIM_TIME,
        date(2024, 3, 2),
        due=date(2024, 3, 9),
        closed=date(2024, 3, 12),
    )
    case(s, p, CaseKind.INQUIRY, CaseCategory.INFORMATION, date(2024, 4, 1), due=date(2024, 4, 5))
    case(s, elsewhere, CaseKind.COMPLAINT, CaseCategory.OTHER, date(2024, 4, 1), due=date(2024, 4, 5))
    case(s, None, CaseKind.COMPLAINT, CaseCategory.OTHER, date(2024, 4, 1), due=date(2024, 4, 5))
    got = figures.complaints(session=s, plan=PLAN, today=date(2024, 4, 10))
    assert got["total"] == 3 and got["overdue"] == 1
    assert {r["key"]: r["count"] for r in got["kinds"]} == {"complaint": 2, "inquiry": 1}
    cats = {r["key"]: (r["complaint"], r["inquiry"]) for r in got["by_category"]}
    assert cats["claim_time"] == (2, 0) and cats["information"] == (0, 1) and cats["other"] == (0, 0)
    close = got["days_to_close"]
    assert (close["closed"], close["median"], close["p90"]) == (2, 3, 10)
    assert [r["count"] for r in close["by_band"]] == [1, 0, 1, 0]
    march = figures.complaints(session=s, plan=PLAN, start=date(2024, 3, 1), end=date(2024, 3, 31))
    assert march["total"] == 2


def test_money_leaves_as_yuan_strings() -> None:
    edge = figures.to_edge({"total": {"payout_fen": 123456, "persons": 12}, "rows": [{"net_fen": None, "rate_bp": 5}]})
    assert edge == {"total": {"payout": "1234.56", "persons": 12}, "rows": [{"net": None, "rate_bp": 5}]}


def test_the_enrollment_cross_table_leaves_no_lone_hidden_cell_beside_a_shown_margin(s: Session) -> None:
    """The cross table shows the total and the dashboards show its margins by district, type and age band:
    in each of those lines a small cell is never the only one hidden."""
    from huiminbao.enrollment.stats import enrollment_cells

    sizes = {
        ("371502", "310", 1980): 30, ("371502", "390", 1980): 3, ("371502", "310", 2000): 20,
        ("371502", "390", 2000): 25, ("371521", "310", 1980): 15, ("371521", "390", 1980): 12,
        ("371521", "310", 2000): 11, ("371521", "390", 2000): 14,
    }  # fmt: skip
    for (area, insutype, born), n in sizes.items():
        for _ in range(n):
            person(s, area=area, insutype=insutype, birth=date(born, 6, 1))
    cells = enrollment_cells(session=s, plan=PLAN)["cells"]
    shown = {(c["area"], c["insutype"], c["age_band"]): c["insured"] for c in cells if not c["suppressed"]}
    assert shown == {
        ("371502", "310", "40-59 岁"): 30,
        ("371502", "390", "18-39 岁"): 25,
        ("371521", "310", "40-59 岁"): 15,
        ("371521", "390", "18-39 岁"): 14,
    }
    assert [c["complement"] for c in cells if c["suppressed"]].count(True) == 3
    for key in ("area", "insutype", "age_band"):
        for value in {c[key] for c in cells}:
            assert sum(1 for c in cells if c[key] == value and c["suppressed"]) != 1, (key, value)


def test_the_dashboards_margins_and_the_cross_table_hide_together(s: Session) -> None:
    """A hidden district total is never the sum of shown cells, and the dashboards' margins and the
    enrollment page's cells leave no lone hidden figure in any line whose total is shown."""
    from huiminbao.enrollment.stats import MARGINS, enrollment_cells
    from tests.figures_world import demo_year

    demo_year(s, people=300)  # a district of three people among six of about fifty
    cells = enrollment_cells(session=s, plan=PLAN)["cells"]
    margins = figures.enrollment(session=s, plan=PLAN)
    by = {"area": margins["by_district"], "insutype": margins["by_insutype"], "age_band": margins["by_age_band"]}
    assert next(r for r in by["area"] if r["key"] == "371526")["insured"] is None
    for key in MARGINS:
        hidden_margins = [r["key"] for r in by[key] if r["suppressed"]]
        assert len(hidden_margins) != 1, key
        for r in by[key]:
            line = [c for c in cells if c[key] == r["key"]]
            hidden = sum(1 for c in line if c["suppressed"])
            assert hidden >= 1 if r["suppressed"] else hidden != 1, (key, r["key"])
