"""医院结算 pages as their users see them: a hospital reads its own settlements and the explanation of
each, never another hospital's; the bureau's supervisor reads the day's one-stop volume by hospital; an
administrator runs the year-end re-adjudication and reads its adjustments.

The day is 2024-07-01. P1 stayed at the second hospital in March (paid nothing: under the deductible),
then twice at the first: the first stay used the rest of the deductible (3,200.00), the second paid
8,000.00; the first was refunded, and the refund (timed before the second stay) arrived after it. In
setl_time order the second stay uses the deductible the refund gave back, so year-end recovers 4,800.00.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from huiminbao.db import Database
from huiminbao.enrollment.roster_store import Keys
from huiminbao.identity import audit
from huiminbao.identity.models import Role
from huiminbao.identity.service import create_user
from huiminbao.settlement.models import SettlementKind
from huiminbao.settlement.onestop import settle
from huiminbao.settlement.service import day_volume, list_settlements
from tests.conftest import PASSWORD, SCREENSHOTS, browser_sign_in, csrf
from tests.test_onestop import HOSPITAL, OTHER, P1, PLAN, prepare, record, refund_of

MARCH, FIRST, SECOND, REFUND = "371500202403100001", "371500202406200002", "371500202407010003", "R0001"
INSCOPE = "基本医疗保险范围内住院自付医疗费用"
OUTSCOPE = "基本医疗保险范围外住院医疗费用"


@pytest.fixture
def app_settings(app_settings: Any, tmp_path: Path) -> Any:
    """The roster, P1's Liaocheng 2024 policy, two hospitals with a user each, a supervisor, finance and an
    administrator, and P1's settlements of the module's story, settled as the hospitals sent them."""
    app_settings.today = date(2024, 7, 1)
    db = Database.from_url(app_settings.database_url)
    keys = Keys(encrypt=app_settings.pii_key_bytes, hash=app_settings.pii_hash_key_bytes)
    prepare(db, tmp_path, keys, app_settings.pii_key_bytes)
    first = record(1, setl_time="2024-07-01 08:30:00")
    refund = refund_of(first, REFUND)
    refund["setlinfo"]["setl_time"] = "2024-07-01 09:00:00"
    second = record(1, setl_id=SECOND, mdtrt_id="M3", setl_time="2024-07-01 10:00:00")
    sends = [(OTHER, record(0, fixmedins_code=OTHER)), (HOSPITAL, first), (HOSPITAL, second), (HOSPITAL, refund)]
    try:
        for code, body in sends:
            with db.session() as s:
                settle(session=s, actor=audit.CLI, hospital_code=code, body=body)
        with db.session() as s:
            for name, role, code in (
                ("h1", Role.HOSPITAL, HOSPITAL), ("h2", Role.HOSPITAL, OTHER), ("sup", Role.SUPERVISOR, None),
                ("root", Role.ADMIN, None), ("fin", Role.FINANCE, None),
            ):  # fmt: skip
                insurer = "DEMO-A" if role is Role.FINANCE else None
                create_user(
                    session=s, actor=audit.CLI, username=name, role=role, password=PASSWORD,
                    hospital_code=code, insurer_code=insurer,
                )  # fmt: skip
    finally:
        db.dispose()
    return app_settings


def web_sign_in(client: TestClient, username: str) -> None:
    form = {"username": username, "password": PASSWORD, "csrf_token": csrf(client)}
    assert client.post("/login", data=form, follow_redirects=False).status_code == 303


def shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / name), full_page=True)


def test_the_queries_filter_page_and_sum_by_hospital(client: TestClient) -> None:
    with client.app.state.db.session() as s:
        mine = list_settlements(session=s, hospital_code=HOSPITAL, size=2)
        assert (mine.total, mine.pages, [r.setl_id for r in mine.rows]) == (3, 2, [SECOND, REFUND])
        last = list_settlements(session=s, hospital_code=HOSPITAL, size=2, page=9)
        assert (last.page, [r.setl_id for r in last.rows]) == (2, [FIRST])
        assert last.rows[0].refunded_by == REFUND and last.rows[0].psn_no == P1
        refunds = list_settlements(session=s, kind=SettlementKind.REFUND)
        assert [(r.setl_id, r.init_setl_id, r.payout_fen) for r in refunds.rows] == [(REFUND, FIRST, -320000)]
        march = list_settlements(session=s, since=date(2024, 3, 10), until=date(2024, 3, 10))
        assert [r.setl_id for r in march.rows] == [MARCH]
        (day,) = day_volume(session=s, day=date(2024, 7, 1))
        assert (day.code, day.name, day.payments, day.refunds) == (HOSPITAL, "聊城市人民医院", 2, 1)
        assert (day.paid_fen, day.returned_fen, day.net_fen) == (1120000, 320000, 800000)
        assert day_volume(session=s, day=date(2024, 7, 2)) == []


def test_a_hospital_is_refused_another_hospitals_settlement(client: TestClient) -> None:
    web_sign_in(client, "h2")
    theirs = client.get(f"/hospital/settlements/{FIRST}")
    assert theirs.status_code == 403 and "只能查看本院的结算" in theirs.text and "3,200.00" not in theirs.text
    listed = client.get("/hospital/settlements").text
    assert MARCH in listed and FIRST not in listed and REFUND not in listed
    assert "日期格式应为 YYYY-MM-DD" in client.get("/hospital/settlements?since=7月1日").text
    assert client.get("/hospital/settlements/NOPE").status_code == 404
    web_sign_in(client, "root")
    assert MARCH not in client.get(f"/hospital/settlements?hospital={HOSPITAL}").text
    assert client.get(f"/hospital/settlements/{FIRST}").status_code == 200


def test_year_end_is_posted_with_a_plan_and_shown_after_a_redirect(client: TestClient) -> None:
    web_sign_in(client, "fin")
    token = {"csrf_token": csrf(client)}
    assert client.post("/admin/year-end", data=token).status_code == 422
    ran = client.post("/admin/year-end", data={**token, "plan": PLAN}, follow_redirects=False)
    assert (ran.status_code, ran.headers["location"]) == (303, f"/admin/year-end?plan={PLAN}&done=1")
    assert "追回" in client.get(ran.headers["location"]).text
    assert client.post("/admin/year-end", data={"plan": PLAN}).status_code == 403, "no CSRF token"


@pytest.mark.slow
def test_a_hospital_reads_its_settlements_and_the_explanation(page: Any, live_server: str) -> None:
    browser_sign_in(page, live_server, "h1")
    page.get_by_role("link", name="医院结算").click()
    rows = page.locator("#settlements tbody tr")
    assert [rows.nth(i).locator("td").nth(1).inner_text() for i in range(rows.count())] == [SECOND, REFUND, FIRST]
    refund, first = rows.nth(1).inner_text(), rows.nth(2).inner_text()
    assert "退费" in refund and f"原结算 {FIRST}" in refund and "-3,200.00" in refund
    assert "已退费" in first and "3,200.00" in first and P1 in first
    assert MARCH not in page.locator("main").inner_text()
    shot(page, "hospital-settlements.png")
    page.get_by_label("类型").select_option(label="退费")
    page.get_by_role("button", name="查询").click()
    page.wait_for_load_state()
    assert page.locator("#settlements tbody tr").count() == 1 and REFUND in page.locator("#settlements").inner_text()
    page.get_by_role("link", name="医院结算").click()
    page.locator("#settlements tbody tr", has_text="已退费").get_by_role("link", name=FIRST).click()
    assert page.locator("#settlement-payout").inner_text() == "3,200.00 元"
    line = page.locator("#settlement-lines tr", has_text=INSCOPE).inner_text()
    assert "6,000.00" in line and "80%" in line and "扣除免赔额6000.00元；按80%赔付" in line
    left = page.locator("#settlement-left")
    assert "0.00" in left.locator("tr", has=page.locator("td", has_text="免赔额")).filter(has_text=INSCOPE).inner_text()
    assert "14,000.00" in left.locator("tr", has_text="免赔额").filter(has_text=OUTSCOPE).inner_text()
    assert "996,800.00" in left.locator("tr", has_text="年度限额").filter(has_text=INSCOPE).inner_text()
    shot(page, "hospital-settlement.png")
    page.goto(f"{live_server}/hospital/settlements/{MARCH}")
    assert "只能查看本院的结算" in page.locator("main").inner_text()


@pytest.mark.slow
def test_another_hospital_sees_none_of_them(page: Any, live_server: str) -> None:
    browser_sign_in(page, live_server, "h2")
    page.goto(live_server + "/hospital/settlements")
    table = page.locator("#settlements").inner_text()
    assert MARCH in table and "未达免赔额" not in table and all(x not in table for x in (FIRST, SECOND, REFUND))
    page.get_by_role("link", name=MARCH).click()
    line = page.locator("#settlement-lines tr", has_text=INSCOPE).inner_text()
    assert "未达免赔额（本次10000.00元计入免赔额，年度免赔额尚余6000.00元）" in line
    page.goto(f"{live_server}/hospital/settlements/{FIRST}")
    assert page.locator("h1").inner_text() == "无法访问"
    assert "只能查看本院的结算" in page.locator("main").inner_text() and "3,200.00" not in page.content()
    shot(page, "hospital-settlement-refused.png")


@pytest.mark.slow
def test_the_supervisor_reads_the_days_one_stop_settlements(page: Any, live_server: str) -> None:
    browser_sign_in(page, live_server, "sup")
    page.get_by_role("link", name="监管", exact=True).click()
    page.get_by_role("link", name="一站式结算").click()
    assert page.get_by_label("结算日期").input_value() == "2024-07-01"
    row = page.locator("#onestop tbody tr").filter(has_text="聊城市人民医院").locator("td")
    want = [f"聊城市人民医院（{HOSPITAL}）", "2", "1", "11,200.00", "3,200.00", "8,000.00"]
    assert [row.nth(i).inner_text() for i in range(6)] == want
    total = page.locator("#onestop tfoot th")
    assert [total.nth(i).inner_text() for i in range(6)] == ["合计", "2", "1", "11,200.00", "3,200.00", "8,000.00"]
    assert "第二人民医院" not in page.locator("#onestop").inner_text()
    shot(page, "supervision-onestop.png")
    page.get_by_label("结算日期").fill("2024-03-10")
    page.get_by_role("button", name="查看").click()
    page.wait_for_load_state()
    assert "聊城市第二人民医院" in page.locator("#onestop tbody").inner_text()


@pytest.mark.slow
def test_the_administrator_runs_year_end_once(page: Any, live_server: str) -> None:
    browser_sign_in(page, live_server, "root")
    page.goto(live_server + "/admin")
    page.get_by_role("link", name="年终重算").click()
    assert "尚未运行过年终重算" in page.locator("main").inner_text()
    page.get_by_label("方案").select_option(PLAN)
    page.get_by_role("button", name="查看").click()
    page.wait_for_load_state()
    assert "聊城市 2024 聊惠保尚未运行过年终重算" in page.locator("main").inner_text()
    page.get_by_role("button", name="运行年终重算").click()
    page.wait_for_load_state()
    assert "年终重算已完成" in page.get_by_role("status").inner_text()
    summary = page.locator("#year-end-summary").inner_text()
    for text in ("4 笔（1 人）", "8,000.00 元", "3,200.00 元", "1 条", "追回\n4,800.00 元"):
        assert text in summary, text
    cells = page.locator("#adjustments tbody tr").first.locator("td")
    want = [P1, INSCOPE, "8,000.00", "3,200.00", "-4,800.00（追回）"]
    assert [cells.nth(i).inner_text() for i in range(1, 6)] == want
    shot(page, "admin-year-end.png")
    page.reload()
    assert "-4,800.00（追回）" in page.locator("#adjustments").inner_text()
    page.get_by_role("button", name="运行年终重算").click()
    page.wait_for_load_state()
    assert "0 条" in page.locator("#year-end-summary").inner_text(), "a second run adjusts nothing more"
    assert page.locator("#adjustments tbody tr").count() == 1


@pytest.mark.slow
def test_the_administrator_sees_every_hospital_and_finance_finds_year_end(page: Any, live_server: str) -> None:
    browser_sign_in(page, live_server, "root")
    page.get_by_role("link", name="医院结算").click()
    assert page.locator("#settlements tbody tr").count() == 4
    page.get_by_label("医院").select_option(label=f"聊城市第二人民医院（{OTHER}）")
    page.get_by_role("button", name="查询").click()
    page.wait_for_load_state()
    rows = page.locator("#settlements tbody tr")
    assert rows.count() == 1 and "聊城市第二人民医院" in rows.first.inner_text() and MARCH in rows.first.inner_text()
    shot(page, "hospital-settlements-admin.png")
    page.get_by_role("button", name="退出").click()
    browser_sign_in(page, live_server, "fin")
    page.get_by_role("link", name="监管", exact=True).click()
    page.get_by_role("link", name="一站式结算").click()
    page.get_by_role("link", name="年终重算").click()
    assert page.locator("h1").inner_text() == "年终重算" and "尚未运行过年终重算" in page.locator("main").inner_text()
    shot(page, "year-end-finance.png")
