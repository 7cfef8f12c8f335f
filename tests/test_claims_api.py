"""The claims API as its users call it: a resident files from the bureau's records, an adjuster of the
plan's consortium reviews and decides, finance pays; others get the contract's refusals."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from huiminbao.claims.bureau import record_bodies
from huiminbao.identity import audit
from tests.test_onestop import CASE, P1, hospital, record  # noqa: F401  (hospital is a fixture)

S1, S2 = (CASE["settlements"][k]["setl_id"] for k in (0, 1))


@pytest.fixture
def kept(client: TestClient, hospital: dict[str, str]) -> None:  # noqa: F811
    with client.app.state.db.session() as s:
        record_bodies(session=s, actor=audit.CLI, bodies=[record(0), record(1)])


@pytest.fixture(autouse=True)
def dated(monkeypatch: pytest.MonkeyPatch, client: TestClient) -> None:
    from datetime import date

    monkeypatch.setattr(client.app.state.settings, "today", date(2024, 7, 1))


def test_a_resident_files_an_adjuster_decides_and_finance_pays(client: TestClient, kept: None, sign_in: Any) -> None:
    resident = sign_in("resident", psn_no=P1)
    listed = client.get(
        "/api/v1/claims/stays", params={"psn_no": P1, "start": "2024-01-01", "end": "2024-12-31"}, headers=resident
    )
    assert listed.status_code == 200, listed.text
    assert [(x["setl_id"], x["claimable"], x["psn_part_amt"]) for x in listed.json()] == [
        (S2, True, "10000.00"),
        (S1, True, "12000.00"),
    ]
    res = client.post("/api/v1/claims", json={"psn_no": P1, "setl_ids": [S1, S2]}, headers=resident)
    assert res.status_code == 201, res.text
    claim = res.json()
    assert (claim["state"], claim["state_name"], claim["due_date"], claim["days_left"], claim["channel"]) == (
        "submitted", "已提交", "2024-07-10", 7, "online",
    )  # fmt: skip
    no = claim["claim_no"]
    again = client.post("/api/v1/claims", json={"psn_no": P1, "setl_ids": [S2]}, headers=resident)
    assert again.status_code == 409 and no in again.json()["message"] and again.json()["field"] == "setl_ids"

    adjuster = sign_in("adjuster")
    queue = client.get("/api/v1/claims", headers=adjuster).json()
    assert [c["claim_no"] for c in queue["claims"]] == [no]
    assert (
        client.post(f"/api/v1/claims/{no}/decision", json={"decisions": {}}, headers=adjuster).json()["code"]
        == "claim_not_taken"
    )
    assert client.post(f"/api/v1/claims/{no}/take", headers=adjuster).json()["state"] == "in_review"
    other = sign_in("adjuster")
    assert client.post(f"/api/v1/claims/{no}/take", headers=other).status_code == 409
    preview = client.get(f"/api/v1/claims/{no}/preview", headers=adjuster).json()
    assert preview[S2]["payout"] == "3200.00" and preview[S1]["payout"] == "0.00"
    decided = client.post(
        f"/api/v1/claims/{no}/decision",
        json={"decisions": {S1: {"approve": True}, S2: {"approve": True}}},
        headers=adjuster,
    )
    assert decided.status_code == 200, decided.text
    assert (decided.json()["state"], decided.json()["payout"]) == ("approved", "3200.00")

    finance = sign_in("finance")
    batch = client.post("/api/v1/claims/payments", json={"claim_nos": [no]}, headers=finance)
    assert batch.status_code == 200, batch.text
    done = client.post(f"/api/v1/claims/{no}/paid", json={"reference": "BANK-1"}, headers=finance).json()
    assert done["state"] == "paid"
    seen = client.get(f"/api/v1/claims/{no}", headers=resident).json()
    assert seen["state_name"] == "已支付" and seen["payout"] == "3200.00" and seen["assignee"] is None
    assert [t["actor"] for t in seen["transitions"]][:2] == ["本人", "理赔审核"]


def test_others_cannot_see_or_file_and_illegal_moves_are_refused(client: TestClient, kept: None, sign_in: Any) -> None:
    resident = sign_in("resident", psn_no=P1)
    no = client.post("/api/v1/claims", json={"psn_no": P1, "setl_ids": [S1]}, headers=resident).json()["claim_no"]
    stranger = sign_in("resident", psn_no="37150000000000000002")
    assert client.get(f"/api/v1/claims/{no}", headers=stranger).status_code == 404
    assert client.post("/api/v1/claims", json={"psn_no": P1, "setl_ids": [S2]}, headers=stranger).status_code == 404
    other_insurer = sign_in("adjuster", insurer_code="NOBODY")
    assert client.get(f"/api/v1/claims/{no}", headers=other_insurer).json()["code"] == "not_own_consortium"
    finance = sign_in("finance")
    paid = client.post(f"/api/v1/claims/{no}/paid", json={}, headers=finance)
    assert paid.status_code == 409 and paid.json()["code"] == "illegal_transition"
    assert client.post(f"/api/v1/claims/{no}/withdraw", headers=resident).json()["state"] == "withdrawn"
    assert client.post("/api/v1/claims", json={"psn_no": P1, "setl_ids": [S1]}, headers=resident).status_code == 201


def test_the_sla_view_lists_claims_past_and_near_their_due_date(
    client: TestClient, kept: None, sign_in: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import date

    resident = sign_in("resident", psn_no=P1)
    no = client.post("/api/v1/claims", json={"psn_no": P1, "setl_ids": [S1]}, headers=resident).json()["claim_no"]
    adjuster = sign_in("adjuster")
    assert client.get("/api/v1/claims/sla", headers=adjuster).json()["near"] == []
    monkeypatch.setattr(client.app.state.settings, "today", date(2024, 7, 9))
    near = client.get("/api/v1/claims/sla", headers=adjuster).json()["near"]
    assert [(c["claim_no"], c["days_left"]) for c in near] == [(no, 1)]
    monkeypatch.setattr(client.app.state.settings, "today", date(2024, 7, 12))
    over = client.get("/api/v1/claims/sla", headers=adjuster).json()["overdue"]
    assert [(c["claim_no"], c["days_left"]) for c in over] == [(no, -2)]
    queue = client.get("/api/v1/claims", params={"within_days": 0}, headers=adjuster).json()
    assert queue["total"] == 1


def test_documents_are_checked_by_content_and_served_to_the_claimant_and_staff(
    client: TestClient, kept: None, sign_in: Any
) -> None:
    import io

    from PIL import Image

    png = io.BytesIO()
    Image.new("RGB", (8, 8), "white").save(png, "PNG")
    resident = sign_in("resident", psn_no=P1)
    no = client.post("/api/v1/claims", json={"psn_no": P1, "setl_ids": [S1]}, headers=resident).json()["claim_no"]
    bad = client.post(
        f"/api/v1/claims/{no}/documents",
        data={"kind": "invoice"},
        files={"file": ("发票.pdf", b"<html>", "application/pdf")},
        headers=resident,
    )
    assert bad.status_code == 422 and bad.json()["code"] == "document_type" and "按内容判断" in bad.json()["message"]
    ok = client.post(
        f"/api/v1/claims/{no}/documents",
        data={"kind": "invoice"},
        files={"file": ("发票.pdf", png.getvalue(), "application/pdf")},
        headers=resident,
    )
    assert ok.status_code == 201, ok.text
    doc = ok.json()
    assert (doc["media_type"], doc["kind_name"], doc["filename"]) == ("image/png", "医疗费用发票", "发票.pdf")
    got = client.get(f"/api/v1/claims/{no}/documents/{doc['id']}", headers=sign_in("adjuster"))
    assert got.status_code == 200 and got.content == png.getvalue() and got.headers["content-type"] == "image/png"
    stranger = sign_in("resident", psn_no="37150000000000000002")
    assert client.get(f"/api/v1/claims/{no}/documents/{doc['id']}", headers=stranger).status_code == 404
    with client.app.state.db.session() as s:
        import sqlalchemy as sa

        from huiminbao.identity.models import AuditEntry

        assert (
            s.scalar(sa.select(sa.func.count()).select_from(AuditEntry).where(AuditEntry.action == "claim.document"))
            == 1
        )


def test_a_claims_explanation_says_why_each_stay_paid_less(
    client: TestClient, kept: None, sign_in: Any, tmp_path: Any
) -> None:
    from tests.test_eob import pdf_text

    resident = sign_in("resident", psn_no=P1)
    no = client.post("/api/v1/claims", json={"psn_no": P1, "setl_ids": [S1, S2]}, headers=resident).json()["claim_no"]
    adjuster = sign_in("adjuster")
    client.post(f"/api/v1/claims/{no}/take", headers=adjuster)
    decisions = {S1: {"approve": True}, S2: {"approve": False, "reason_code": "other", "note": "发票与结算不符"}}
    assert (
        client.post(f"/api/v1/claims/{no}/decision", json={"decisions": decisions}, headers=adjuster).json()["state"]
        == "partly_approved"
    )
    eob = client.get(f"/api/v1/claims/{no}/eob", headers=resident).json()
    by_stay = {s["setl_id"]: s for s in eob["stays"]}
    assert by_stay[S2]["eob"] is None and by_stay[S2]["reason"] == "其他原因：发票与结算不符"
    assert by_stay[S1]["eob"]["paid"] == "0.00" and "未达免赔额" in str(by_stay[S1]["eob"])
    pdf = client.get(f"/api/v1/claims/{no}/eob.pdf", headers=resident)
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    text = pdf_text(tmp_path, pdf.content)
    for words in (no, "部分核准", "发票与结算不符", "未达免赔额", S1):
        assert words in text, words


def test_a_days_left_bound_in_a_year_the_calendar_lacks_is_refused_by_name(
    client: TestClient, sign_in: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import date

    from huiminbao.calendar import default_calendar

    year = max(y for y in range(2004, 2100) if default_calendar().covers(y))
    monkeypatch.setattr(client.app.state.settings, "today", date(year, 12, 20))
    res = client.get("/api/v1/claims", params={"within_days": 30}, headers=sign_in("adjuster"))
    assert (
        res.status_code == 422
        and res.json()["code"] == "calendar_not_covered"
        and str(year + 1) in res.json()["message"]
    )
