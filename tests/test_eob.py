"""The explanation of benefit (赔付说明) of one-stop settlements, as a resident, a hospital and staff read it:
rows and reasons, the fee lines and the liability each fell under, the PDF's text, and who may see it.

The day is 2024-07-01. P1 holds a Liaocheng 2024 policy and paid for P2's (spouse). P1's March stay stays
under the deductible (nothing paid); the June stay has a specific high-cost drug line (its own deductible
not reached) and a drug outside every catalog, and pays 3,200.00 under in-scope inpatient; it is refunded.
P2 went to an outpatient clinic, which no liability covers.
"""

from __future__ import annotations

import shutil
import subprocess
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from huiminbao.db import Database
from huiminbao.enrollment.models import Channel, Relation
from huiminbao.enrollment.purchase import Member, buy
from huiminbao.enrollment.roster_store import Keys
from huiminbao.identity import audit
from huiminbao.identity.models import Role
from huiminbao.identity.service import create_user
from huiminbao.plans import compiled_plan
from huiminbao.settlement.eob import BY_TOTALS, eob_pdf
from huiminbao.settlement.onestop import get_settlement_or_raise, settle
from huiminbao.settlement.service import eob_of
from tests.conftest import PASSWORD, browser_sign_in, csrf, missing
from tests.test_onestop import HOSPITAL, OTHER, P1, P2, PLAN, prepare, record, refund_of

MARCH, JUNE, REFUND, CLINIC = "371500202403100001", "371500202406200002", "R0001", "371500202406250009"
INSCOPE = "基本医疗保险范围内住院自付医疗费用"
SPECIFIC = "基本医疗保险范围外特定高额药品费用"
DRUG = {"med_chrgitm_type": "09", "preselfpay_amt": "0.00", "overlmt_amt": "0.00"}


def june() -> dict[str, Any]:
    body = record(1)
    body["feedetl"] = [
        {**DRUG, "feedetl_sn": "1", "med_list_codg": "XLCTD0001", "chrgitm_lv": "03", "det_item_fee_sumamt": "5000.00",
         "fulamt_ownpay_amt": "5000.00", "inscp_scp_amt": "0.00"},
        {**DRUG, "feedetl_sn": "2", "med_list_codg": "XB01AC001", "chrgitm_lv": "01", "det_item_fee_sumamt": "30000.00",
         "fulamt_ownpay_amt": "0.00", "inscp_scp_amt": "30000.00"},
    ]  # fmt: skip
    body["setlinfo"].update(
        medfee_sumamt="35000.00", fulamt_ownpay_amt="5000.00", psn_part_amt="15000.00", psn_cash_pay="15000.00"
    )
    return body


def clinic() -> dict[str, Any]:
    body = record(0, setl_id=CLINIC, mdtrt_id="M9", psn_no=P2, med_type="11", setl_time="2024-06-25 09:00:00")
    body["setlinfo"].update(begndate="2024-06-25", enddate="2024-06-25")
    return body


@pytest.fixture
def app_settings(app_settings: Any, tmp_path: Path) -> Any:
    """P1's policy (prepare) and P2's paid by P1, the four settlements, and users: residents p1 and p2,
    each hospital's user, an adjuster of the plan's consortium and one of another insurer."""
    app_settings.today = date(2024, 7, 1)
    db = Database.from_url(app_settings.database_url)
    keys = Keys(encrypt=app_settings.pii_key_bytes, hash=app_settings.pii_hash_key_bytes)
    prepare(db, tmp_path, keys, app_settings.pii_key_bytes)
    try:
        with db.session() as s:
            buy(
                session=s, actor=audit.CLI, compiled=compiled_plan(PLAN), payer_psn_no=P1,
                members=[Member(P2, Relation.SPOUSE)], channel=Channel.COUNTER, day=date(2023, 12, 1), paid=True,
            )  # fmt: skip
        for body in (record(0), june(), refund_of(june(), REFUND), clinic()):
            with db.session() as s:
                settle(session=s, actor=audit.CLI, hospital_code=HOSPITAL, body=body)
        with db.session() as s:
            for name, role, links in (
                ("p1", Role.RESIDENT, {"psn_no": P1}), ("p2", Role.RESIDENT, {"psn_no": P2}),
                ("h1", Role.HOSPITAL, {"hospital_code": HOSPITAL}), ("h2", Role.HOSPITAL, {"hospital_code": OTHER}),
                ("adj", Role.ADJUSTER, {"insurer_code": "DEMO-A"}), ("adj-x", Role.ADJUSTER, {"insurer_code": "NONE"}),
            ):  # fmt: skip
                create_user(session=s, actor=audit.CLI, username=name, role=role, password=PASSWORD, **links)
    finally:
        db.dispose()
    return app_settings


def bearer(client: TestClient, username: str) -> dict[str, str]:
    token = client.post("/api/v1/auth/token", data={"username": username, "password": PASSWORD}).json()
    return {"Authorization": f"Bearer {token['access_token']}"}


def web_sign_in(client: TestClient, username: str) -> None:
    form = {"username": username, "password": PASSWORD, "csrf_token": csrf(client)}
    assert client.post("/login", data=form, follow_redirects=False).status_code == 303


def pdf_text(tmp_path: Path, content: bytes) -> str:
    if shutil.which("pdftotext") is None:
        missing("pdftotext not installed; apt-get install -y poppler-utils")
    pdf = tmp_path / "eob.pdf"
    pdf.write_bytes(content)
    return subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout


def test_the_eob_explains_each_liability_fee_line_and_refund(client: TestClient) -> None:
    with client.app.state.db.session() as s:
        march, jun, refund, outpatient = (
            eob_of(session=s, settlement=get_settlement_or_raise(session=s, setl_id=x))
            for x in (MARCH, JUNE, REFUND, CLINIC)
        )
    assert (march.paid_fen, march.amounts.personal_fen, march.hospital_name) == (0, 1200000, "聊城市人民医院")
    assert (march.med_type_name, march.tier_name, march.plan_name) == ("普通住院", "标准版", "聊城市 2024 聊惠保")
    assert march.summary and all("未达免赔额" in text for text in march.summary)
    (inscope,) = [ln for ln in march.lines if ln.name == INSCOPE]
    assert (inscope.deductible_used_fen, inscope.paid_fen, inscope.ratio) == (1000000, 0, "80%")

    assert jun.paid_fen == 320000 and jun.refunded_by == REFUND and jun.amounts.total_fen == 3500000
    assert [(f.code, f.liability) for f in jun.fee_lines] == [("XLCTD0001", SPECIFIC), ("XB01AC001", BY_TOTALS)]
    lines = {ln.name: ln for ln in jun.lines}
    assert (lines[SPECIFIC].base_fen, lines[SPECIFIC].paid_fen) == (500000, 0)
    assert "未达免赔额" in (lines[SPECIFIC].reason or "")
    assert (lines[INSCOPE].deductible_used_fen, lines[INSCOPE].paid_fen) == (600000, 320000)
    assert any(text.startswith(f"{SPECIFIC}：未达免赔额") for text in jun.summary)
    left = {(x.what, x.of): x.left_fen for x in jun.left}
    assert left[("免赔额", INSCOPE)] == 0 and left[("年度限额", INSCOPE)] == 100000000 - 320000

    assert (refund.kind.value, refund.refund_of, refund.paid_fen) == ("refund", JUNE, -320000)
    assert refund.summary == (f"本次为退费，冲销原结算 {JUNE}：原结算的赔付全部退回，所用免赔额和限额恢复。",)
    assert outpatient.med_type_name == "普通门诊" and outpatient.paid_fen == 0
    assert any("不属于住院费用" in text for text in outpatient.summary)


def test_the_api_gives_the_eob_to_its_readers_in_yuan(client: TestClient) -> None:
    path = f"/api/v1/settlements/{JUNE}/eob"
    mine = client.get(path, headers=bearer(client, "p1"))
    assert mine.status_code == 200, mine.text
    body = mine.json()
    assert (body["paid"], body["amounts"]["personal"], body["fee_lines"][0]["amount"]) == (
        "3200.00",
        "15000.00",
        "5000.00",
    )
    assert body["lines"][0]["name"] == SPECIFIC and body["kind"] == "payment"
    assert client.get(f"/api/v1/settlements/{CLINIC}/eob", headers=bearer(client, "p1")).status_code == 200  # family
    assert client.get(f"/api/v1/settlements/{CLINIC}/eob", headers=bearer(client, "p2")).status_code == 200
    theirs = client.get(path, headers=bearer(client, "p2"))
    assert (theirs.status_code, theirs.json()["code"]) == (403, "not_own_settlement")
    assert client.get(path, headers=bearer(client, "h1")).status_code == 200
    assert client.get(path, headers=bearer(client, "h2")).status_code == 403
    assert client.get(path, headers=bearer(client, "adj")).status_code == 200
    assert client.get(path, headers=bearer(client, "adj-x")).json()["code"] == "not_own_consortium"
    assert client.get("/api/v1/settlements/NOPE/eob", headers=bearer(client, "p1")).status_code == 404
    assert client.get(path).status_code == 401
    assert client.get(f"/api/v1/settlements/{JUNE}", headers=bearer(client, "p1")).status_code == 403, "answer: staff"


def test_the_pdf_holds_the_reasons_and_amounts(client: TestClient, tmp_path: Path) -> None:
    res = client.get(f"/api/v1/settlements/{JUNE}/eob.pdf", headers=bearer(client, "p1"))
    assert res.status_code == 200 and res.headers["content-type"] == "application/pdf"
    text = pdf_text(tmp_path, res.content)
    for expected in (
        "惠民保赔付说明",
        JUNE,
        "3,200.00",
        "15,000.00",
        "未达免赔额",
        "XLCTD0001",
        "按本次结算汇总",
        "参保人",
    ):
        assert expected in text, expected
    assert "特定高额药" in text and "扣除免赔额6000.00元" in text.replace("\n", "").replace(" ", "")
    with client.app.state.db.session() as s:
        eobs = [eob_of(session=s, settlement=get_settlement_or_raise(session=s, setl_id=x)) for x in (MARCH, JUNE)]
    text = pdf_text(tmp_path, eob_pdf("理赔结算明细", [("申请编号", "LP2024000001"), ("参保人", "参*1")], eobs))
    for expected in ("理赔结算明细", "LP2024000001", "参*1", MARCH, JUNE, "结算笔数：2", "惠民保赔付合计：3,200.00 元"):
        assert expected in text, expected


def test_a_resident_sees_their_own_and_their_familys_settlements_only(client: TestClient, tmp_path: Path) -> None:
    web_sign_in(client, "p1")
    listed = client.get("/me/settlements").text
    assert [x for x in (CLINIC, REFUND, JUNE, MARCH) if x in listed] == [CLINIC, REFUND, JUNE, MARCH]
    assert listed.index(REFUND) < listed.index(CLINIC), "newest first: the refund was settled on 2024-07-01"
    page = client.get(f"/me/settlements/{JUNE}")
    assert page.status_code == 200 and "3,200.00 元" in page.text and SPECIFIC in page.text and "我的结算" in page.text
    assert "未达免赔额" in page.text and f"/me/settlements/{JUNE}/eob.pdf" in page.text
    assert client.get(f"/me/settlements/{JUNE}/eob.pdf").headers["content-type"] == "application/pdf"
    assert client.get("/me/settlements/NOPE").status_code == 404
    web_sign_in(client, "p2")
    listed = client.get("/me/settlements").text
    assert CLINIC in listed and JUNE not in listed and MARCH not in listed
    refused = client.get(f"/me/settlements/{JUNE}")
    assert refused.status_code == 403 and "3,200.00" not in refused.text
    assert client.get(f"/me/settlements/{JUNE}/eob.pdf").status_code == 403


def test_staff_download_the_pdf_of_what_they_may_see(client: TestClient) -> None:
    web_sign_in(client, "h1")
    page = client.get(f"/hospital/settlements/{JUNE}")
    assert page.status_code == 200 and BY_TOTALS in page.text and f"/hospital/settlements/{JUNE}/eob.pdf" in page.text
    assert client.get(f"/hospital/settlements/{JUNE}/eob.pdf").headers["content-type"] == "application/pdf"
    web_sign_in(client, "h2")
    assert client.get(f"/hospital/settlements/{JUNE}/eob.pdf").status_code == 403
    web_sign_in(client, "adj")
    assert client.get(f"/hospital/settlements/{JUNE}/eob.pdf").status_code == 200
    web_sign_in(client, "adj-x")
    assert client.get(f"/hospital/settlements/{JUNE}/eob.pdf").status_code == 403


@pytest.mark.slow
def test_a_resident_reads_the_explanation_in_the_browser(page: Any, live_server: str) -> None:
    browser_sign_in(page, live_server, "p1")
    page.get_by_role("link", name="我的结算").click()
    page.wait_for_load_state()
    page.get_by_role("link", name=JUNE).first.click()
    page.wait_for_load_state()
    assert page.locator("#settlement-payout").inner_text() == "3,200.00 元"
    summary = page.locator("#settlement-summary").inner_text()
    assert "个人负担 15,000.00 元" in summary and f"{SPECIFIC}：未达免赔额" in summary
    assert SPECIFIC in page.locator("#settlement-fees tr", has_text="XLCTD0001").inner_text()
    assert "80%" in page.locator("#settlement-lines tr", has_text=INSCOPE).inner_text()
    page.screenshot(path="/tmp/eob.png", full_page=True)
    pdf = page.request.get(live_server + page.locator("#settlement-pdf").get_attribute("href"))
    assert pdf.ok and pdf.headers["content-type"] == "application/pdf"
