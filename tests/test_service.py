"""Complaints and inquiries, and the service desk's policy look-up: a resident opens and follows their
own case, staff reply and note, the working-day clock escalates the late ones, look-ups are audited
without the clear ID number, supervisors get counts only."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from structlog.testing import capture_logs
from typer.testing import CliRunner

from huiminbao.identity.certno import make_certno
from huiminbao.identity.models import AuditEntry
from huiminbao.notify.models import Outbox
from huiminbao.service.models import ServiceCase, ServiceReply
from huiminbao.service.service import redact
from tests.conftest import browser_sign_in
from tests.test_enrollment_api import IN_WINDOW, roster_csv, upload

E1 = make_certno("371502", date(1985, 5, 5), 1)  # the roster's E1 (see test_enrollment_api.ROWS)


@pytest.fixture
def app_settings(app_settings: Any) -> Any:
    app_settings.today = IN_WINDOW  # a Friday inside Liaocheng 2024's window: the family can buy
    return app_settings


def _family(client: TestClient, sign_in: Any) -> dict[str, str]:
    """E1 buys for E1 and spouse S1; returns E1's headers."""
    upload(client, sign_in("admin"), roster_csv())
    me = sign_in("resident", psn_no="E1")
    order = {
        "plan": "liaocheng-2024",
        "payer": "E1",
        "channel": "personal_account",
        "members": [{"psn_no": "E1", "relation": "self"}, {"psn_no": "S1", "relation": "spouse"}],
    }
    assert client.post("/api/v1/policies", json=order, headers=me).status_code == 201
    return me


def _open(client: TestClient, headers: dict[str, str], **body: Any) -> Any:
    case = {"kind": "complaint", "category": "claim_time", "subject": "理赔太慢", "text": "至今未到账"} | body
    return client.post("/api/v1/service/cases", json=case, headers=headers)


def test_free_text_is_kept_with_id_and_mobile_numbers_masked() -> None:
    text = f"我的身份证 {E1}，电话 13812345678，请回电"
    assert redact(text) == f"我的身份证 {E1[:6]}********{E1[-4:]}，电话 138****5678，请回电"


def test_a_resident_complains_and_sees_the_answer_but_not_the_notes(client: TestClient, sign_in: Any) -> None:
    me = _family(client, sign_in)
    res = _open(client, me, text=f"身份证 {E1} 电话 13812345678，住院报销两周未到账", psn_no="S1", claim_no="CL1")
    assert res.status_code == 201, res.text
    case = res.json()
    assert (case["status"], case["channel"], case["psn_no"], case["category_name"]) == (
        "open",
        "online",
        "S1",
        "理赔时效",
    )
    assert case["opened_on"] == "2023-12-01" and case["due_date"] == "2023-12-08"  # 5 working days, Friday start
    assert E1 not in res.text and "13812345678" not in res.text and "138****5678" in case["text"]
    assert _open(client, me, psn_no="C1").json()["code"] == "not_own_family"
    assert _open(client, me, channel="hotline").json()["code"] == "channel_not_allowed"

    clerk = sign_in("clerk")
    queue = client.get("/api/v1/service/cases", headers=clerk, params={"kind": "complaint", "status": "open"}).json()
    assert [c["case_no"] for c in queue] == [case["case_no"]]
    url = f"/api/v1/service/cases/{case['case_no']}"
    note = client.post(url + "/replies", json={"text": "已催财务，内部跟进", "internal": True}, headers=clerk)
    assert note.status_code == 201 and note.json()["status"] == "open"
    answered = client.post(url + "/replies", json={"text": "已加急处理，预计三个工作日内到账"}, headers=clerk).json()
    assert answered["status"] == "answered" and answered["handler"] == "clerk-3"

    mine = client.get(url, headers=me).json()
    assert [r["text"] for r in mine["replies"]] == ["已加急处理，预计三个工作日内到账"] and mine["handler"] is None
    assert [c["case_no"] for c in client.get("/api/v1/service/cases", headers=me).json()] == [case["case_no"]]
    assert client.post(url + "/replies", json={"text": "x", "internal": True}, headers=me).status_code == 403
    follow = client.post(url + "/replies", json={"text": "还是没到"}, headers=me).json()
    assert follow["status"] == "open"  # a follow-up reopens the answered case

    other = sign_in("resident", psn_no="C1")
    assert client.get(url, headers=other).status_code == 404
    assert client.get("/api/v1/service/cases", headers=other).json() == []
    assert client.post(url + "/close", json={}, headers=me).status_code == 403
    closed = client.post(url + "/close", json={"note": "已到账，办结"}, headers=clerk).json()
    assert closed["status"] == "closed" and closed["closed_on"] == "2023-12-01"
    assert client.post(url + "/replies", json={"text": "再问"}, headers=me).json()["code"] == "case_closed"

    with client.app.state.db.session() as s:
        stored = s.scalars(sa.select(ServiceCase.text)).all() + s.scalars(sa.select(ServiceReply.text)).all()
        actions = s.scalars(sa.select(AuditEntry.action).where(AuditEntry.entity == "service_case")).all()
        told = s.scalars(sa.select(Outbox.event).order_by(Outbox.id)).all()
    assert told == ["service.replied", "service.closed"]  # the answer and the close, not the internal note
    assert not any(E1 in t or "13812345678" in t for t in stored)
    assert actions == ["service.open", "service.note", "service.reply", "service.reply", "service.close"]


def test_staff_register_a_hotline_case_for_a_caller_not_in_the_roster(client: TestClient, sign_in: Any) -> None:
    clerk = sign_in("clerk")
    res = _open(client, clerk, kind="inquiry", category="information", channel="hotline", text="能否为父母投保？")
    assert res.status_code == 201 and res.json()["psn_no"] is None and res.json()["due_date"] == "2023-12-05"
    assert _open(client, clerk, channel="online").json()["code"] == "channel_not_allowed"
    assert _open(client, clerk, channel="counter", psn_no="NOPE").status_code == 404


def test_overdue_cases_escalate_by_the_working_day_calendar(
    client: TestClient, sign_in: Any, app_settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Opened Friday 2024-09-27, before the National Day week: Sunday 29 September is a make-up working day,
    1-7 October are holidays."""
    from huiminbao.cli.main import app
    from huiminbao.settings import get_settings

    app_settings.today = date(2024, 9, 27)
    clerk = sign_in("clerk")
    inquiry = _open(client, clerk, kind="inquiry", category="information", channel="hotline").json()
    complaint = _open(client, clerk, channel="regulator").json()
    assert (inquiry["due_date"], complaint["due_date"]) == ("2024-09-30", "2024-10-10")

    monkeypatch.setenv("HMB_DATABASE_URL", app_settings.database_url)
    monkeypatch.setenv("HMB_VAR_DIR", str(tmp_path / "cli"))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["service", "escalate", "--date", "2024-10-08", "--json"])
        again = CliRunner().invoke(app, ["service", "escalate", "--date", "2024-10-08", "--json"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert '"escalated": ["' + inquiry["case_no"] + '"]' in result.output
    assert '"escalated": []' in again.output  # the new due date is not past yet

    app_settings.today = date(2024, 10, 8)
    late = client.get(f"/api/v1/service/cases/{inquiry['case_no']}", headers=clerk).json()
    assert (late["status"], late["escalation_level"], late["due_date"]) == ("escalated", 1, "2024-10-11")
    assert "超过答复期限 2024-09-30" in late["replies"][0]["text"] and late["replies"][0]["internal"]
    app_settings.today = date(2024, 10, 10)  # both due dates still ahead or today
    overdue = client.get("/api/v1/service/cases", params={"overdue": True}, headers=clerk).json()
    assert overdue == []
    app_settings.today = date(2024, 10, 14)
    overdue = client.get("/api/v1/service/cases", params={"overdue": True}, headers=clerk).json()
    assert sorted(c["case_no"] for c in overdue) == sorted([inquiry["case_no"], complaint["case_no"]])
    manual = client.post(
        f"/api/v1/service/cases/{complaint['case_no']}/escalate", json={"reason": "监管督办"}, headers=clerk
    ).json()
    assert manual["escalation_level"] == 1 and manual["due_date"] == "2024-10-17"


def test_a_person_is_looked_up_by_id_number_and_the_audit_keeps_it_masked(client: TestClient, sign_in: Any) -> None:
    _family(client, sign_in)
    clerk = sign_in("clerk")
    with capture_logs() as logs:
        res = client.post("/api/v1/service/lookup/person", json={"certno": E1.lower()}, headers=clerk)
        missing = client.post(
            "/api/v1/service/lookup/person", json={"certno": make_certno("371502", date(1990, 1, 1), 7)}, headers=clerk
        )
    assert res.status_code == 200, res.text
    found = res.json()
    assert found["person"]["psn_no"] == "E1" and found["person"]["certno"] == E1[:6] + "********" + E1[-4:]
    assert [(p["plan"], p["status_name"], p["cover_start"]) for p in found["policies"]] == [
        ("liaocheng-2024", "待缴费", "2024-01-01")
    ]
    assert missing.status_code == 404 and missing.json()["code"] == "person_not_found"
    bad = client.post("/api/v1/service/lookup/person", json={"certno": E1[:17] + "0"}, headers=clerk)
    assert bad.status_code == 422 and bad.json()["field"] == "certno"
    assert (
        client.post("/api/v1/service/lookup/person", json={"certno": E1}, headers=sign_in("supervisor")).status_code
        == 403
    )
    with client.app.state.db.session() as s:
        rows = s.execute(
            sa.select(AuditEntry.entity_id, AuditEntry.after).where(AuditEntry.action == "service.lookup_person")
        ).all()
        everything = " ".join(f"{r.entity_id} {r.before} {r.after}" for r in s.scalars(sa.select(AuditEntry)))
    missed = make_certno("371502", date(1990, 1, 1), 7)
    assert [r.entity_id for r in rows] == ["E1", missed[:6] + "********" + missed[-4:]]
    assert E1 not in everything and E1.lower() not in everything and E1[:6] + "********" in rows[0].after
    assert E1 not in repr(logs)


def test_a_group_order_is_found_by_employer_name_with_masked_members(client: TestClient, sign_in: Any) -> None:
    upload(client, sign_in("admin"), roster_csv())
    clerk = sign_in("clerk")
    files = {"file": ("staff.csv", b"psn_no\nE1\nC1\n", "text/csv")}
    order = client.post(
        "/api/v1/groups/orders", data={"plan": "liaocheng-2024", "payer_name": "聊城某公司"}, files=files, headers=clerk
    ).json()["order"]
    res = client.get("/api/v1/service/lookup/groups", params={"q": "某公司"}, headers=clerk)
    assert res.status_code == 200, res.text
    [group] = res.json()
    assert (group["order_no"], group["members"], group["total"]) == (order["order"], 2, "178.00")
    assert group["by_status"] == [{"status": "active", "name": "有效", "count": 2}]
    assert sorted(m["psn_no"] for m in group["shown"]) == ["C1", "E1"]
    assert E1 not in res.text and E1[:6] + "********" + E1[-4:] in res.text
    by_no = client.get("/api/v1/service/lookup/groups", params={"q": order["order"]}, headers=clerk).json()
    assert [g["order_no"] for g in by_no] == [order["order"]]
    assert client.get("/api/v1/service/lookup/groups", params={"q": "无此单位"}, headers=clerk).json() == []


def test_supervisors_see_counts_and_nothing_else(client: TestClient, sign_in: Any) -> None:
    me = _family(client, sign_in)
    clerk = sign_in("clerk")
    _open(client, me)
    _open(client, me, category="attitude")
    _open(client, clerk, kind="inquiry", category="information", channel="hotline")
    boss = sign_in("supervisor")
    assert client.get("/api/v1/service/cases", headers=boss).status_code == 403
    counts = client.get("/api/v1/service/counts", headers=boss).json()
    assert (counts["total"], counts["overdue"]) == (3, 0)
    complaints = next(k for k in counts["by_kind"] if k["kind"] == "complaint")
    assert complaints["total"] == 2
    assert {c["name"]: c["count"] for c in complaints["by_category"]}["服务态度"] == 1
    assert {c["channel"]: c["count"] for c in counts["by_channel"]} == {
        "online": 2, "hotline": 1, "counter": 0, "letter": 0, "regulator": 0,
    }  # fmt: skip
    assert "case_no" not in str(counts) and "E1" not in str(counts)
    page = client.get("/supervision/service")
    assert page.status_code == 200 and "投诉与咨询" in page.text


@pytest.mark.slow
def test_a_resident_complains_in_the_browser_and_a_clerk_replies(
    client: TestClient, sign_in: Any, live_server: str, page: Any
) -> None:
    _family(client, sign_in)  # resident-2 is E1
    sign_in("clerk")  # clerk-3
    browser_sign_in(page, live_server, "resident-2")
    page.get_by_role("link", name="客服").click()
    page.get_by_role("link", name="提出投诉或咨询").click()
    page.get_by_label("类别").select_option("claim_amount")
    page.get_by_label("标题").fill("赔付金额与试算不符")
    page.get_by_label("内容").fill("试算 3200 元，实际到账 2800 元，请核实。联系电话 13812345678")
    page.get_by_role("button", name="提交").click()
    page.wait_for_load_state()
    case_no = page.url.rsplit("/", 1)[1]
    assert "138****5678" in page.content() and "13812345678" not in page.content()

    page.context.clear_cookies()
    browser_sign_in(page, live_server, "clerk-3")
    page.goto(live_server + "/service/cases?kind=complaint")
    page.get_by_role("link", name=case_no).click()
    page.get_by_label("答复、备注、升级原因或办结说明").fill("经核实，差额为乙类先行自付部分，不在保障范围。")
    page.get_by_role("button", name="答复参保人").click()
    page.wait_for_load_state()
    assert page.locator("#case-status").inner_text().startswith("已答复")

    page.context.clear_cookies()
    browser_sign_in(page, live_server, "resident-2")
    page.goto(f"{live_server}/me/cases/{case_no}")
    assert "乙类先行自付" in page.locator("#replies").inner_text()
    page.screenshot(path="/tmp/service.png", full_page=True)


def test_the_staff_pages_queue_register_and_look_up(client: TestClient, sign_in: Any) -> None:
    from tests.conftest import csrf

    _family(client, sign_in)
    sign_in("clerk")  # the client's web session is now the clerk's
    form = {"kind": "inquiry", "category": "coverage", "channel": "letter", "psn_no": "E1", "claim_no": "",
            "subject": "来信咨询", "text": "既往症是否赔付？", "csrf_token": csrf(client)}  # fmt: skip
    made = client.post("/service/cases/new", data=form, follow_redirects=False)
    assert made.status_code == 303 and made.headers["location"].startswith("/service/cases/KF")
    queue = client.get("/service/cases", params={"kind": "inquiry"})
    assert queue.status_code == 200 and "来信咨询" in queue.text and "信函" in queue.text
    took = client.post(made.headers["location"], data={"action": "take", "csrf_token": csrf(client)})
    assert took.status_code == 200 and "clerk-3" in took.text
    empty = client.post(made.headers["location"], data={"action": "reply", "text": " ", "csrf_token": csrf(client)})
    assert empty.status_code == 422 and "请填写回复内容" in empty.text
    found = client.post("/service/lookup", data={"certno": E1, "csrf_token": csrf(client)})
    assert found.status_code == 200 and "E1" in found.text and E1 not in found.text
    bad = client.post("/service/lookup", data={"certno": "123", "csrf_token": csrf(client)})
    assert bad.status_code == 422 and "GB 11643" in bad.text
    assert client.get("/service/lookup/groups", params={"q": "无此单位"}).status_code == 200
    assert client.get("/service/cases/KF000").status_code == 404
