"""投保 pages in a real Chromium, as their users would use them: a resident on a phone buys for the family
and downloads the e-policy; a clerk enrolls a veteran at the counter late in the year; an administrator
uploads the roster and reads the rejections."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from huiminbao.db import Database
from huiminbao.enrollment.models import InsuredPerson
from huiminbao.enrollment.roster_store import Keys, import_roster
from huiminbao.identity import audit
from huiminbao.identity.models import Role
from huiminbao.identity.service import create_user
from tests.conftest import PASSWORD, SCREENSHOTS, browser_sign_in
from tests.test_enrollment_api import roster_csv

pytestmark = pytest.mark.slow


@pytest.fixture
def app_settings(app_settings: Any, tmp_path: Path) -> Any:
    app_settings.today = date(2023, 12, 1)
    app_settings.payment_simulator = True
    (tmp_path / "roster.csv").write_bytes(roster_csv())
    db = Database.from_url(app_settings.database_url)
    keys = Keys(encrypt=app_settings.pii_key_bytes, hash=app_settings.pii_hash_key_bytes)
    with db.session() as s:
        import_roster(session=s, path=tmp_path / "roster.csv", keys=keys, actor=audit.CLI, today=app_settings.today)
        create_user(session=s, actor=audit.CLI, username="e1", role=Role.RESIDENT, password=PASSWORD, psn_no="E1")
        create_user(
            session=s, actor=audit.CLI, username="clerk", role=Role.CLERK, password=PASSWORD, insurer_code="PICC"
        )
        create_user(session=s, actor=audit.CLI, username="root", role=Role.ADMIN, password=PASSWORD)
    db.dispose()
    return app_settings


def test_a_resident_buys_for_the_family_on_a_phone(browser: Any, live_server: str) -> None:
    context = browser.new_context(locale="zh-CN", viewport={"width": 375, "height": 812}, is_mobile=True)
    page = context.new_page()
    try:
        browser_sign_in(page, live_server, "e1")
        page.goto(live_server + "/enroll")
        assert "可以投保聊惠保标准版，保费 89.00 元" in page.locator("#my-eligibility").inner_text()
        rows = page.locator(".member-row")
        assert rows.nth(0).locator("input").input_value() == "E1"
        rows.nth(1).locator("input").fill("B1")
        rows.nth(1).locator("select").select_option("sibling")
        page.get_by_label("缴费方式").select_option("personal_account")
        page.get_by_role("button", name="提交订单").click()
        page.wait_for_load_state()
        error = page.locator("#order-error").inner_text()
        assert "医保个人账户只能为本人、配偶、子女、父母、配偶的父母购买" in error and "B1（兄弟姐妹）" in error
        page.locator(".member-row").nth(1).locator("input").fill("S1")
        page.locator(".member-row").nth(1).locator("select").select_option("spouse")
        page.get_by_role("button", name="提交订单").click()
        page.wait_for_load_state()
        result = page.locator("#order-result").inner_text()
        assert "合计 178.00 元" in result and "待缴费" in result
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "enroll-375.png"), full_page=True)
        href = page.locator("#order-result a", has_text="下载电子保单").first.get_attribute("href")
        pdf = page.request.get(live_server + str(href))
        assert pdf.status == 200 and pdf.headers["content-type"] == "application/pdf" and pdf.body()[:5] == b"%PDF-"
        assert page.locator("section.my-orders").count() == 1
        rows = page.locator(".member-row")
        rows.nth(0).locator("input").fill("C1")
        rows.nth(0).locator("select").select_option("child")
        page.get_by_label("缴费方式").select_option("online")
        page.get_by_role("button", name="提交订单").click()
        page.wait_for_load_state()
        page.get_by_role("button", name="支付 89.00 元（模拟支付）").click()
        page.wait_for_load_state()
        assert "已支付，保单已生效" in page.locator("#done").inner_text()
        assert page.locator("section.my-orders").first.get_by_text("有效").count() == 1
        page.locator("section.my-orders").first.get_by_role("button", name="同意明年续保").click()
        page.wait_for_load_state()
        assert "已同意下一年度续保" in page.locator("#done").inner_text()
        page.locator("section.my-orders").first.get_by_role("button", name="退保").click()
        page.wait_for_load_state()
        assert "已退保：保障开始前退保，退还保费的 100%：89.00 元" in page.locator("#done").inner_text()
    finally:
        context.close()


def test_a_clerk_enrolls_a_veteran_at_the_counter(page: Any, live_server: str, app_settings: Any) -> None:
    app_settings.today = date(2024, 6, 1)
    browser_sign_in(page, live_server, "clerk")
    page.goto(live_server + "/enroll")
    assert page.locator("h1").inner_text() == "柜台投保"
    page.get_by_label("方案").select_option("liaocheng-2024")  # 2025's window is open too; 2024 is the year at hand
    page.get_by_role("button", name="选择").click()
    page.wait_for_load_state()
    page.get_by_label("付款人人员编号").fill("V1")
    page.locator(".member-row").nth(0).locator("input").fill("V1")
    page.get_by_label("付款人手机号").fill("0635-8888888")  # a landline cannot take the claim's text message
    page.get_by_role("button", name="提交订单").click()
    page.wait_for_load_state()
    assert "手机号应为 11 位数字" in page.locator("#order-error").inner_text()
    page.get_by_label("付款人手机号").fill("139 0635 1234")
    page.get_by_role("button", name="提交订单").click()
    page.wait_for_load_state()
    result = page.locator("#order-result").inner_text()
    assert "已缴费" in result and "有效" in result and "2024-06-01 至 2024-12-31" in result
    db = Database.from_url(app_settings.database_url)
    with db.session() as s:
        v1 = s.scalars(sa.select(InsuredPerson).where(InsuredPerson.psn_no == "V1")).one()
        assert v1.phone_masked == "139****1234" and v1.phone_enc and b"13906351234" not in v1.phone_enc
    db.dispose()
    page.get_by_label("付款人人员编号").fill("C1")
    page.locator(".member-row").nth(0).locator("input").fill("C1")
    page.get_by_role("button", name="提交订单").click()
    page.wait_for_load_state()
    assert "不在投保期内（投保期 2023-12-31 截止）" in page.locator("#order-error").inner_text()


def test_an_administrator_uploads_the_roster(page: Any, live_server: str, tmp_path: Path) -> None:
    bad = "X9,110105194912310020,王五,1,1949-12-31,390,371502,7,2015-01-01,"
    path = tmp_path / "upload.csv"
    path.write_bytes(roster_csv([bad]))
    browser_sign_in(page, live_server, "root")
    page.goto(live_server + "/admin/roster")
    page.set_input_files("input[name=file]", str(path))
    page.get_by_role("button", name="导入").click()
    page.wait_for_load_state()
    facts = page.locator("#roster-result").inner_text()
    assert "未变\n5" in facts and "拒收\n1" in facts
    problems = page.locator("table.problems").inner_text()
    assert "参保状态应为 1、2 或 4" in problems and "110105194912310020" not in problems
    page.screenshot(path=str(SCREENSHOTS / "admin-roster.png"), full_page=True)


def test_a_clerk_buys_for_an_employers_list(page: Any, live_server: str, tmp_path: Path) -> None:
    path = tmp_path / "staff.csv"
    path.write_text("psn_no\nE1\nS1\nNOPE\n", encoding="utf-8")
    browser_sign_in(page, live_server, "clerk")
    page.goto(live_server + "/enroll")
    page.get_by_role("link", name="团体与慈善投保（上传名单）").click()
    page.get_by_label("投保单位或慈善机构").fill("聊城某公司")
    page.set_input_files("input[name=file]", str(path))
    page.get_by_role("button", name="报价").click()
    page.wait_for_load_state()
    quote = page.locator("#group-quote").inner_text()
    assert "可投保 2 人，保费合计 178.00 元" in quote and "基本医保参保人员名册中没有此人员编号" in quote
    page.set_input_files("input[name=file]", str(path))
    page.get_by_role("button", name="投保并付款").click()
    page.wait_for_load_state()
    assert "已投保 2 人，合计 178.00 元" in page.locator("#group-order").inner_text()
    page.screenshot(path=str(SCREENSHOTS / "groups.png"), full_page=True)
