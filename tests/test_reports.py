"""The regulator's workbooks as the bureau opens them: sheets, Chinese headers, formats, frozen headers, totals
that match the database to the fen, small cells as "<10"; and who may take them, through the API, the page
and the CLI, each download audited."""

from __future__ import annotations

import io
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from huiminbao.cli.main import app as cli
from huiminbao.enrollment.models import OrderStatus, Policy, PolicyOrder
from huiminbao.identity.models import AuditEntry
from huiminbao.money import to_fen
from huiminbao.plans import load_plan
from huiminbao.settings import get_settings
from huiminbao.settlement.models import Adjustment, Settlement, SettlementLine, SettlementSource
from huiminbao.supervision import lossratio, reports
from tests.figures_world import demo_year, late_settlements

PLAN = "liaocheng-2024"
SHEETS = ["说明", "概况", "投保", "保费", "赔付", "受益人群", "理赔", "投诉", "赔付率"]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture
def city(client: TestClient) -> dict[str, Any]:
    with client.app.state.db.session() as s:
        return demo_year(s, people=200)


def book(data: bytes) -> Any:
    return openpyxl.load_workbook(io.BytesIO(data))


def fen(value: float) -> int:
    """A yuan number read back from the workbook, in fen (exact: it was written with two decimals)."""
    return int(Decimal(str(value)) * 100)


def width(ws: Any, column: int) -> float:
    """A column's width (the writer groups equal neighbours into one range, kept under its first letter)."""
    return next(d.width for d in ws.column_dimensions.values() if d.min <= column <= d.max)


def total_row(ws: Any) -> list[Any]:
    return next([c.value for c in row] for row in ws.iter_rows() if row[0].value == "合计")


def paid_payouts(s: Any, start: datetime | None = None, end: datetime | None = None) -> int:
    """Payout lines of the plan's settlements, queried straight from the tables."""
    where = [Settlement.plan_id == PLAN]
    if start is not None:
        where += [Settlement.setl_time >= start, Settlement.setl_time < end]
    q = sa.select(sa.func.sum(SettlementLine.payout)).join(Settlement).where(*where)
    return int(s.scalar(q) or 0)


def collected(s: Any) -> tuple[int, int]:
    """Policies of paid orders and the premium they paid, straight from the tables."""
    q = (
        sa.select(sa.func.count(), sa.func.sum(Policy.premium_fen))
        .join(PolicyOrder, PolicyOrder.id == Policy.order_id)
        .where(Policy.plan_id == PLAN, PolicyOrder.status == OrderStatus.PAID)
    )
    n, fen = s.execute(q).one()
    return int(n), int(fen or 0)


def test_both_workbooks_have_their_sheets_formats_and_totals_from_the_database(
    client: TestClient, city: dict[str, Any]
) -> None:
    plan = load_plan(PLAN)
    with client.app.state.db.sessions() as s:
        annual = book(reports.annual(session=s, plan=plan, year="2024"))
        march = book(reports.monthly(session=s, plan=plan, month="2024-03"))
        all_paid, march_paid = paid_payouts(s), paid_payouts(s, datetime(2024, 3, 1), datetime(2024, 4, 1))
        policies, premium = collected(s)
    for wb in (annual, march):
        assert wb.sheetnames == SHEETS
        assert all(wb[name].freeze_panes == "A2" for name in SHEETS)
        assert [c.value for c in wb["保费"][1]] == [
            "月份",
            "缴费保单（件）",
            "退保（件）",
            "实收保费（元）",
            "退费（元）",
            "净保费（元）",
        ]
        assert [c.value for c in wb["赔付"][1]] == ["分类", "分组", "赔付金额（元）", "受益人数（人）"]
        assert width(wb["投保"], 3) >= 20  # 基本医保参保人（人）: Chinese text is double width
    cover = {r[0]: r[1] for r in annual["说明"].iter_rows(min_row=2, values_only=True) if r[0]}
    assert cover["方案"] == "聊惠保（liaocheng-2024）" and cover["报表期间"].startswith("2024（")
    assert "北京时间" in cover["生成时间"] and "<10" in cover["小格隐藏规则"]
    # totals, to the fen, against the tables themselves
    pay = total_row(annual["赔付"])
    assert fen(pay[2]) == all_paid
    assert fen(total_row(march["赔付"])[2]) == march_paid
    prem = total_row(annual["保费"])
    assert prem[1] == policies > city["holders"] and fen(prem[3]) == premium
    months = [r for r in annual["保费"].iter_rows(min_row=2) if r[0].value and r[0].value.startswith("20")]
    assert sum(fen(r[3].value) for r in months) == premium
    assert all(r[3].number_format == "#,##0.00" and r[1].number_format == "#,##0" for r in months)
    summary = {r[0].value: r[1] for r in annual["概况"].iter_rows(min_row=2) if r[0].value}
    assert summary["投保率"].number_format == "0.00%" and summary["赔付金额（元）"].number_format == "#,##0.00"
    assert fen(summary["赔付金额（元）"].value) == all_paid
    # the district of three people reads "<10", never its count
    small = next(r for r in annual["投保"].iter_rows(min_row=2, values_only=True) if r[1] == "371526")
    assert small[2:] == ("<10", "<10", "—")
    claims = annual["理赔"]
    states = [r[2] for r in claims.iter_rows(min_row=2, values_only=True) if r[0] == "状态"]
    assert sum(states) == total_row(claims)[2]


def test_the_loss_ratio_is_incurred_with_ibnr_valued_at_the_periods_end(client: TestClient) -> None:
    plan, today = load_plan(PLAN), date(2024, 12, 1)
    with client.app.state.db.sessions() as s:
        demo_year(s, people=200)
        late_settlements(s)  # paid a month or two after care: the triangle develops, IBNR is not zero
        s.commit()
        annual = book(reports.annual(session=s, plan=plan, today=today))
        march = book(reports.monthly(session=s, plan=plan, month="2024-03", today=today))
        december = book(reports.monthly(session=s, plan=plan, month="2024-12", today=today))
        year = {d: lossratio.plan_year(session=s, plan=plan, as_of=d) for d in (today, date(2024, 3, 31))}
        ratio = lossratio.loss_ratio(session=s, plan=plan, as_of=today)
        triangle = lossratio.ibnr(session=s, plan=plan, as_of=today)
        one_stop = s.scalar(sa.select(sa.func.sum(Settlement.payout_fen)).where(
            Settlement.plan_id == PLAN, Settlement.source != SettlementSource.CLAIM))  # fmt: skip
        adjusted = s.scalar(sa.select(sa.func.sum(Adjustment.amount_fen)).where(Adjustment.plan_id == PLAN))
    assert year[today]["ibnr"] > 0 and year[today]["reserves"] > 0
    for wb, d in ((annual, today), (march, date(2024, 3, 31)), (december, today)):  # a month not over: today
        summary = {r[0].value: r[1] for r in wb["概况"].iter_rows(min_row=2) if r[0].value}
        assert "累计赔付率" not in summary
        for label, key in (("已赚保费（元）", "earned"), ("已付赔款（元）", "paid"), ("未决赔款准备金（元）", "reserves"),
                           ("IBNR（元）", "ibnr"), ("发生赔款（元）", "incurred")):  # fmt: skip
            assert fen(summary[label].value) == year[d][key], (d, label)
            assert summary[label].number_format == "#,##0.00"
        assert round(summary["赔付率"].value * 10_000) == year[d]["loss_ratio_bp"]
        assert summary["赔付率"].number_format == "0.00%" and summary["方案赔付率要求"].value == 0.8
    assert year[today]["incurred"] != year[date(2024, 3, 31)]["incurred"]
    # the 赔付率 sheet: the judged years, their average against the floor, the warnings
    ws = annual["赔付率"]
    rows = [[c for c in r] for r in ws.iter_rows()]
    assert [c.value for c in rows[0][:4]] == ["年度", "方案", "保单（件）", "已赚保费（元）"]
    by_year = {r[0].value: r for r in rows[1:4]}
    assert by_year["2023"][2].value == "无保单数据" and by_year["2022"][3].value == "—"
    mine = by_year["2024"]
    assert mine[2].value == year[today]["policies"] and fen(mine[3].value) == year[today]["earned"]
    assert fen(mine[5].value) == one_stop and fen(mine[7].value) == adjusted  # 其中一站式结算, 其中年终调整
    assert fen(mine[9].value) == year[today]["ibnr"] and round(mine[11].value * 10_000) == year[today]["loss_ratio_bp"]
    assert rows[4][0].value == "平均（2024）" and round(rows[4][11].value * 10_000) == ratio["average"]["loss_ratio_bp"]
    notes = [r[0].value for r in rows if r[0].value]
    assert all(w in notes for w in ratio["warnings"]) and any("不低于 80%" in n for n in notes)
    # the triangle with its factors, then latest, ultimate and IBNR per month of care
    factor = next(r for r in rows if r[0].value == "逐期发展因子")
    assert [c.value for c in factor[1 : len(triangle["factors"]) + 1]] == [f["factor"] for f in triangle["factors"]]
    assert factor[1].number_format == "0.0000" and factor[1].value > 1
    first = next(i for i, r in enumerate(rows) if r[0].value == "2024-01")
    assert [fen(c.value) for c in rows[first][1:4]] == [to_fen(v) for v in triangle["triangle"][0][:3]]
    total = [r for r in rows if r[0].value == "合计"][-1]
    assert fen(total[5].value) == to_fen(triangle["total"]["ibnr"]) == year[today]["ibnr"]
    assert "赔付率" in march.sheetnames and march["赔付率"].freeze_panes == "A2"


def test_periods_outside_the_plan_are_refused_naming_the_field(client: TestClient) -> None:
    plan = load_plan(PLAN)
    with client.app.state.db.sessions() as s:
        assert reports.months(session=s, plan=plan)[-1] == "2024-12"
        for bad in ("2025-01", "2024-13", "2024/03", ""):
            with pytest.raises(reports.PeriodError) as err:
                reports.monthly(session=s, plan=plan, month=bad)
            assert err.value.field == "period"
        with pytest.raises(reports.PeriodError, match="2024"):
            reports.annual(session=s, plan=plan, year="2023")
        assert reports.month_bounds(session=s, plan=plan, month="2024-02") == (date(2024, 2, 1), date(2024, 2, 29))


def test_the_api_and_the_page_give_the_file_audited_to_those_allowed(
    client: TestClient, sign_in: Any, city: dict[str, Any]
) -> None:
    url = "/api/v1/supervision/reports/monthly"
    res = client.get(url, params={"plan": PLAN, "period": "2024-03"}, headers=sign_in("supervisor"))
    assert res.status_code == 200 and res.headers["content-type"] == XLSX
    disposition = res.headers["content-disposition"]
    assert 'filename="liaocheng-2024-monthly-2024-03.xlsx"' in disposition and "filename*=UTF-8''" in disposition
    assert book(res.content).sheetnames == SHEETS
    bad = client.get(url, params={"plan": PLAN, "period": "2025-07"}, headers=sign_in("admin"))
    assert bad.status_code == 422 and bad.json()["field"] == "period" and bad.json()["code"] == "bad_period"
    wrong_year = client.get("/api/v1/supervision/reports/annual", params={"plan": PLAN, "period": "2023"},
                            headers=sign_in("admin"))  # fmt: skip
    assert wrong_year.status_code == 422 and "2024" in wrong_year.json()["message"]
    for role in ("resident", "hospital", "actuary", "adjuster"):
        assert client.get(url, params={"plan": PLAN, "period": "2024-03"}, headers=sign_in(role)).status_code == 403
    other = client.get(url, params={"plan": "quzhou-2021", "period": "2021-03"}, headers=sign_in("finance"))
    assert other.status_code == 403 and other.json()["code"] == "not_own_consortium"
    own = client.get("/api/v1/supervision/reports/annual", params={"plan": PLAN}, headers=sign_in("finance"))
    assert own.status_code == 200
    # the page, as a finance user of DEMO-A signed in last
    page = client.get("/supervision/reports", params={"plan": PLAN})
    assert page.status_code == 200 and "monthly.xlsx?plan=liaocheng-2024&amp;period=2024-03" in page.text
    assert 'href="/supervision/reports"' in page.text and "<script>" not in page.text
    assert client.get("/supervision/reports", params={"plan": "quzhou-2021"}).status_code == 403
    got = client.get("/supervision/reports/annual.xlsx", params={"plan": PLAN, "period": "2024"})
    assert got.status_code == 200 and book(got.content).sheetnames == SHEETS
    assert client.get("/supervision/reports/monthly.xlsx", params={"plan": PLAN, "period": "x"}).status_code == 422
    with client.app.state.db.sessions() as s:
        taken = s.scalars(sa.select(AuditEntry).where(AuditEntry.action == "report.take")).all()
    assert [(e.role, e.entity_id) for e in taken] == [("supervisor", PLAN), ("finance", PLAN), ("finance", PLAN)]
    assert '"period": "2024-03"' in taken[0].after


def test_residents_are_sent_away_from_the_page(client: TestClient, sign_in: Any) -> None:
    assert client.get("/supervision/reports", follow_redirects=False).status_code == 303
    sign_in("resident")
    assert client.get("/supervision/reports", follow_redirects=False).status_code == 403
    assert (
        client.get("/supervision/reports/monthly.xlsx", params={"plan": PLAN, "period": "2024-03"}).status_code == 403
    )


def test_the_cli_writes_the_workbook_and_names_a_bad_option(
    client: TestClient, city: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HMB_DATABASE_URL", client.app.state.settings.database_url)
    get_settings.cache_clear()
    out = tmp_path / "march.xlsx"
    try:
        res = CliRunner().invoke(cli, ["report", "monthly", "--plan", PLAN, "--period", "2024-03", "--out", str(out)])
        bad = CliRunner().invoke(cli, ["report", "annual", "--plan", PLAN, "--period", "2030"])
        nowhere = CliRunner().invoke(cli, ["report", "annual", "--plan", "nowhere-2024"])
    finally:
        get_settings.cache_clear()
    assert res.exit_code == 0, res.output
    assert book(out.read_bytes()).sheetnames == SHEETS
    assert bad.exit_code == 2 and "--period" in bad.output and "2024" in bad.output
    assert nowhere.exit_code == 2 and "--plan" in nowhere.output
    with client.app.state.db.sessions() as s:
        assert s.scalar(sa.select(sa.func.count()).where(AuditEntry.action == "report.take")) == 1


def test_money_is_written_exactly_to_two_decimals() -> None:
    book_ = reports.Book()
    ws = book_.wb.add_worksheet("t")
    for r, value in enumerate((1, 10, 123456789012345, 8900, 19, -1234)):
        book_.cell(ws, r, 0, value, reports.MONEY)
    read = openpyxl.load_workbook(io.BytesIO(book_.close()))["t"]
    assert [fen(read.cell(r + 1, 1).value) for r in range(6)] == [1, 10, 123456789012345, 8900, 19, -1234]
