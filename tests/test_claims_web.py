"""理赔 pages as their users see them: a resident files from the bureau's records with documents on a
phone, an adjuster takes the claim, asks for a document and approves, the resident follows it to the
payout, finance pays; refusals come back on the page in Chinese.

The day is 2024-07-01. P1 has two stays in the bureau's records (the example case's first two
settlements): approving both pays 3,200.00 (the first is under the deductible).
"""

from __future__ import annotations

import io
import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from huiminbao.claims.bureau import record_bodies
from huiminbao.db import Database
from huiminbao.enrollment.roster_store import Keys
from huiminbao.identity import audit
from huiminbao.identity.models import Role
from huiminbao.identity.service import create_user
from tests.conftest import PASSWORD, browser_sign_in, csrf
from tests.test_onestop import CASE, P1, prepare, record

S1, S2 = (CASE["settlements"][k]["setl_id"] for k in (0, 1))
SHOTS = Path("/tmp")


@pytest.fixture
def app_settings(app_settings: Any, tmp_path: Path) -> Any:
    """P1 insured with a Liaocheng 2024 policy, the bureau's records of two stays, and a resident, a clerk,
    two adjusters and finance."""
    app_settings.today = date(2024, 7, 1)
    db = Database.from_url(app_settings.database_url)
    keys = Keys(encrypt=app_settings.pii_key_bytes, hash=app_settings.pii_hash_key_bytes)
    prepare(db, tmp_path, keys, app_settings.pii_key_bytes)
    try:
        with db.session() as s:
            record_bodies(session=s, actor=audit.CLI, bodies=[record(0), record(1)])
            for name, role, links in (
                ("p1", Role.RESIDENT, {"psn_no": P1}), ("clerk", Role.CLERK, {"insurer_code": "PICC"}),
                ("adj", Role.ADJUSTER, {"insurer_code": "DEMO-A"}), ("adj2", Role.ADJUSTER, {"insurer_code": "DEMO-A"}),
                ("fin", Role.FINANCE, {"insurer_code": "DEMO-A"}),
            ):  # fmt: skip
                create_user(session=s, actor=audit.CLI, username=name, role=role, password=PASSWORD, **links)
    finally:
        db.dispose()
    return app_settings


def png() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (40, 30), "white").save(out, "PNG")
    return out.getvalue()


def web_sign_in(client: TestClient, username: str) -> None:
    client.cookies.clear()
    form = {"username": username, "password": PASSWORD, "csrf_token": csrf(client)}
    assert client.post("/login", data=form, follow_redirects=False).status_code == 303


def post(client: TestClient, path: str, data: dict[str, Any] | None = None, **kw: Any) -> Any:
    return client.post(path, data={"csrf_token": csrf(client), **(data or {})}, follow_redirects=False, **kw)


def file_one(client: TestClient, setl_ids: list[str], files: list[tuple[str, tuple[str, bytes, str]]]) -> Any:
    data = {"psn_no": P1, "setl_id": setl_ids, "kind": [k for k, _ in files]}
    return post(client, "/claims/new", data, files=[("file", f) for _, f in files])


def test_a_resident_files_with_documents_and_follows_the_claim_to_its_payout(client: TestClient) -> None:
    web_sign_in(client, "p1")
    new = client.get("/claims/new", params={"start": "2024-01-01", "end": "2024-12-31"})
    assert new.status_code == 200 and S1 in new.text and S2 in new.text and "聊城市人民医院" in new.text
    assert "12,000.00" in new.text and "本人" in new.text
    refused = file_one(client, [S1, S2], [("invoice", ("发票.pdf", b"<html>", "application/pdf"))])
    assert refused.status_code == 422 and "按内容判断" in refused.text, "a refused file files nothing"
    assert "已在理赔申请" not in client.get("/claims/new", params={"start": "2024-01-01"}).text
    filed = file_one(
        client,
        [S1, S2],
        [("invoice", ("发票.png", png(), "image/png")), ("fee_list", ("", b"", "application/octet-stream"))],
    )
    assert filed.status_code == 303, filed.text
    no = re.search(r"/claims/(LP\d+)", filed.headers["location"]).group(1)
    page = client.get(filed.headers["location"]).text
    assert "已提交" in page and "应办结日期 2024-07-10" in page and "剩余 7 个工作日" in page
    assert "医疗费用发票" in page and "发票.png" in page and "撤回申请" in page
    assert "已在理赔申请 " + no in client.get("/claims/new", params={"start": "2024-01-01"}).text
    assert no in client.get("/claims").text
    doc = re.search(rf"/claims/{no}/documents/(\d+)", page).group(0)
    assert client.get(doc).content == png()

    web_sign_in(client, "adj")
    queue = client.get("/claims/queue").text
    assert no in queue and "剩余 7 个工作日" in queue
    assert post(client, f"/claims/{no}/take").status_code == 303
    reviewed = client.get(f"/claims/{no}/review").text
    assert "若核准，按当前累计将赔付 3,200.00 元" in reviewed and "放回队列" in reviewed and "<img" in reviewed
    assert post(client, f"/claims/{no}/request", {"what": "出院小结"}).status_code == 303
    web_sign_in(client, "adj2")
    assert "领取" in client.get(f"/claims/{no}/review").text
    web_sign_in(client, "p1")
    waiting = client.get(f"/claims/{no}").text
    assert "暂停计时：待补充材料" in waiting and "出院小结" in waiting and "材料已补齐" in waiting
    up = post(
        client,
        f"/claims/{no}/documents",
        {"kind": "discharge_summary"},
        files=[("file", ("小结.png", png(), "image/png"))],
    )
    assert up.status_code == 303, up.text
    assert post(client, f"/claims/{no}/supply").status_code == 303
    assert "审核中" in client.get(f"/claims/{no}").text

    web_sign_in(client, "adj")
    decided = post(
        client, f"/claims/{no}/decide",
        {"setl_id": [S1, S2], "decision": ["approve", "approve"], "reason_code": ["", ""], "note": ["", ""]},
    )  # fmt: skip
    assert decided.status_code == 303, decided.text
    web_sign_in(client, "p1")
    outcome = client.get(f"/claims/{no}").text
    assert "已核准" in outcome and "3,200.00 元" in outcome and "赔付明细" in outcome and "撤回申请" not in outcome
    pdf = client.get(f"/claims/{no}/eob.pdf")
    assert (
        pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    )

    web_sign_in(client, "fin")
    assert no in client.get("/claims/payments").text
    assert post(client, "/claims/payments", {"claim_no": [no]}).status_code == 303
    assert post(client, f"/claims/{no}/paid", {"reference": "BANK-1"}).status_code == 303
    assert "已支付" in client.get(f"/claims/{no}").text and "银行流水 BANK-1" in client.get(f"/claims/{no}").text


def test_refusals_are_shown_on_the_page_in_chinese(client: TestClient) -> None:
    web_sign_in(client, "p1")
    none = post(client, "/claims/new", {"psn_no": P1})
    assert none.status_code == 422 and "请至少选择一次就医结算记录" in none.text
    no = re.search(r"LP\d+", file_one(client, [S1], []).headers["location"]).group(0)
    web_sign_in(client, "adj")
    untaken = post(
        client, f"/claims/{no}/decide", {"setl_id": [S1], "decision": ["approve"], "reason_code": [""], "note": [""]}
    )
    assert untaken.status_code == 409 and f"请先领取理赔申请 {no} 再审核" in untaken.text
    assert post(client, f"/claims/{no}/take").status_code == 303
    web_sign_in(client, "adj2")
    locked = post(client, f"/claims/{no}/take")
    assert locked.status_code == 409 and "正由 adj 审核" in locked.text
    web_sign_in(client, "adj")
    other = post(
        client,
        f"/claims/{no}/decide",
        {"setl_id": [S1], "decision": ["reject"], "reason_code": ["other"], "note": [""]},
    )
    assert other.status_code == 422 and "请写明理由" in other.text
    assert post(client, f"/claims/{no}/request", {"what": "发票"}).status_code == 303
    web_sign_in(client, "p1")
    early = post(client, f"/claims/{no}/supply")
    assert early.status_code == 422 and "请先上传所需补充的材料" in early.text
    web_sign_in(client, "adj")
    assert post(client, f"/claims/{no}/reject", {"reason_code": "not_covered"}).status_code == 303
    web_sign_in(client, "p1")
    shown = client.get(f"/claims/{no}").text
    assert "不予赔付" in shown and "不属于保障责任范围" in shown and "upload-form" not in shown
    assert client.get("/claims/LP0").status_code == 404


def test_a_clerk_files_at_the_counter_and_others_cannot_see_the_claim(client: TestClient) -> None:
    web_sign_in(client, "clerk")
    assert "人员编号" in client.get("/claims/new").text
    unknown = client.get("/claims/new", params={"psn_no": "NOBODY"})
    assert "没有可代为申请的参保人 NOBODY" in unknown.text
    filed = file_one(client, [S2], [("invoice", ("i.png", png(), "image/png"))])
    assert filed.status_code == 303
    no = re.search(r"LP\d+", filed.headers["location"]).group(0)
    assert "柜面" in client.get(f"/claims/{no}").text and no in client.get("/claims", params={"psn_no": P1}).text
    with client.app.state.db.session() as s:
        create_user(session=s, actor=audit.CLI, username="p2", role=Role.RESIDENT, password=PASSWORD, psn_no="37150000000000000002")  # fmt: skip
    web_sign_in(client, "p2")
    assert client.get(f"/claims/{no}").status_code == 404
    assert client.get(f"/claims/{no}/documents/1").status_code == 404
    web_sign_in(client, "adj")
    sla = client.get("/claims/sla").text
    assert "即将到期" in sla and no not in sla


@pytest.mark.slow
def test_the_whole_claim_in_the_browser_at_phone_width(page: Any, live_server: str, tmp_path: Path) -> None:
    invoice = tmp_path / "发票.png"
    invoice.write_bytes(png())
    page.set_viewport_size({"width": 390, "height": 844})
    browser_sign_in(page, live_server, "p1")
    page.get_by_role("link", name="理赔申请").click()
    page.get_by_role("link", name="申请理赔").click()
    page.get_by_label("入院日期自").fill("2024-01-01")
    page.get_by_role("button", name="查询就医记录").click()
    page.wait_for_load_state()
    page.locator(f"input[name=setl_id][value='{S1}']").check()
    page.locator(f"input[name=setl_id][value='{S2}']").check()
    page.locator("input[name=file]").first.set_input_files(str(invoice))
    page.screenshot(path=str(SHOTS / "claims-new.png"), full_page=True)
    page.get_by_role("button", name="提交理赔申请").click()
    page.wait_for_load_state()
    assert "已提交" in page.locator("#claim-state").inner_text()
    assert "剩余 7 个工作日" in page.locator("#claim-state").inner_text()
    no = re.search(r"LP\d+", page.url).group(0)
    page.screenshot(path=str(SHOTS / "claims-filed.png"), full_page=True)
    page.get_by_role("button", name="退出").click()

    page.set_viewport_size({"width": 1280, "height": 900})
    browser_sign_in(page, live_server, "adj")
    page.get_by_role("link", name="理赔审核").click()
    assert "剩余 7 个工作日" in page.locator("#queue").inner_text()
    page.screenshot(path=str(SHOTS / "claims-queue.png"), full_page=True)
    page.get_by_role("link", name=no).click()
    page.get_by_role("button", name="领取").click()
    page.wait_for_load_state()
    assert "由我审核中" in page.locator("#claim-state").inner_text()
    page.get_by_label("需补充的材料").fill("出院小结")
    page.get_by_role("button", name="发送补充通知").click()
    page.wait_for_load_state()
    assert "待补充材料" in page.locator("#claim-state").inner_text()
    page.get_by_role("button", name="退出").click()

    page.set_viewport_size({"width": 390, "height": 844})
    browser_sign_in(page, live_server, "p1")
    page.goto(f"{live_server}/claims/{no}")
    assert "出院小结" in page.locator("#requested").inner_text()
    page.locator("#upload-form select[name=kind]").select_option("discharge_summary")
    page.locator("#upload-form input[name=file]").set_input_files(str(invoice))
    page.screenshot(path=str(SHOTS / "claims-requested.png"), full_page=True)
    page.get_by_role("button", name="上传").click()
    page.wait_for_load_state()
    page.get_by_role("button", name="材料已补齐").click()
    page.wait_for_load_state()
    assert "审核中" in page.locator("#claim-state").inner_text()
    page.get_by_role("button", name="退出").click()

    page.set_viewport_size({"width": 1280, "height": 900})
    browser_sign_in(page, live_server, "adj")
    page.goto(f"{live_server}/claims/{no}/review")
    assert page.locator("img.doc-image").count() == 2
    page.screenshot(path=str(SHOTS / "claims-review.png"), full_page=True)
    page.get_by_role("button", name="提交核定").click()
    page.wait_for_load_state()
    assert page.locator("#claim-payout").inner_text() == "3,200.00 元"
    page.get_by_role("button", name="退出").click()

    page.set_viewport_size({"width": 390, "height": 844})
    browser_sign_in(page, live_server, "p1")
    page.get_by_role("link", name="理赔申请").click()
    assert "3,200.00 元" in page.locator("#claims").inner_text() and "已核准" in page.locator("#claims").inner_text()
    page.get_by_role("link", name=no).click()
    assert "已核准" in page.locator("#claim-state").inner_text()
    assert page.locator("#claim-payout").inner_text() == "3,200.00 元"
    first = page.locator(f"#lines-{S2}").inner_text()
    assert (
        "基本医疗保险范围内住院自付医疗费用" in first
        and "3,200.00 元" in first
        and "扣除免赔额6000.00元；按80%赔付" in first
    )
    page.screenshot(path=str(SHOTS / "claims-outcome.png"), full_page=True)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page scrolls sideways at phone width ({width}px)"
