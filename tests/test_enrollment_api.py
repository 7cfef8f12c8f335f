"""The enrollment API as its users call it: an administrator uploads the roster, a resident checks and buys
for the family, a clerk enrolls at the counter; refusals in the contract's error body."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from huiminbao.identity.certno import make_certno
from huiminbao.identity.models import AuditEntry
from tests.conftest import csrf

IN_WINDOW = date(2023, 12, 1)
HEADER = "psn_no,certno,psn_name,gend,brdy,insutype,insu_admdvs,psn_insu_stas,psn_insu_date,populations"
ROWS = [
    ("E1", "310", "371502", ""),
    ("S1", "390", "371502", ""),
    ("C1", "390", "371502", ""),
    ("B1", "390", "371502", ""),
    ("V1", "390", "371521", "veteran"),
]


@pytest.fixture
def app_settings(app_settings: Any) -> Any:
    app_settings.today = IN_WINDOW  # HMB_TODAY: inside Liaocheng 2024's enrollment window
    return app_settings


def roster_csv(extra: list[str] | None = None) -> bytes:
    lines = [HEADER] + [
        f"{p},{make_certno(area, date(1985, 5, 5), i)},居民{i},2,1985-05-05,{kind},{area},1,2015-01-01,{tags}"
        for i, (p, kind, area, tags) in enumerate(ROWS, start=1)
    ]
    return ("\n".join(lines + (extra or [])) + "\n").encode()


def upload(client: TestClient, headers: dict[str, str], data: bytes, name: str = "roster.csv") -> Any:
    return client.post("/api/v1/roster/imports", headers=headers, files={"file": (name, data, "text/csv")})


def test_admin_uploads_the_roster_and_reads_the_rejections(client: TestClient, sign_in: Any) -> None:
    admin = sign_in("admin")
    bad = "X9,110105194912310020,王五,1,1949-12-31,390,371502,7,2015-01-01,"
    res = upload(client, admin, roster_csv([bad]))
    assert res.status_code == 201, res.text
    body = res.json()
    assert (body["rows"], body["inserted"], body["rejected"]) == (6, 5, 1)
    report = client.get(body["report"], headers=admin)
    assert report.status_code == 200 and report.headers["content-type"].startswith("text/csv")
    text = report.content.decode("utf-8-sig")
    assert "7,X9,certno," in text and "7,X9,psn_insu_stas,参保状态应为 1、2 或 4" in text
    assert "110105194912310020" not in text and "王五" not in text
    again = upload(client, admin, roster_csv()).json()
    assert (again["inserted"], again["unchanged"]) == (0, 5)
    unreadable = upload(client, admin, b"a,b\n1,2\n")
    assert unreadable.status_code == 422 and unreadable.json()["code"] == "roster_unreadable"
    assert upload(client, sign_in("clerk"), roster_csv()).status_code == 403


def test_a_resident_checks_and_buys_for_the_family(client: TestClient, sign_in: Any) -> None:
    upload(client, sign_in("admin"), roster_csv())
    me = sign_in("resident", psn_no="E1")
    ok = client.get("/api/v1/eligibility", params={"plan": "liaocheng-2024", "psn_no": "S1"}, headers=me).json()
    assert ok["eligible"] and ok["premium"] == "89.00" and ok["cover_start"] == "2024-01-01"
    order = {
        "plan": "liaocheng-2024",
        "payer": "E1",
        "channel": "personal_account",
        "members": [{"psn_no": "E1", "relation": "self"}, {"psn_no": "S1", "relation": "spouse"}],
    }
    res = client.post("/api/v1/policies", json=order, headers=me)
    assert res.status_code == 201, res.text
    placed = res.json()
    assert placed["status"] == "pending_payment" and placed["total"] == "178.00"
    assert [p["status"] for p in placed["policies"]] == ["pending_payment", "pending_payment"]
    mine = client.get("/api/v1/policies/mine", headers=me).json()
    assert [o["order"] for o in mine] == [placed["order"]]
    again = client.get("/api/v1/eligibility", params={"plan": "liaocheng-2024", "psn_no": "S1"}, headers=me).json()
    assert (again["eligible"], again["code"]) == (False, "already_insured")

    sibling = {**order, "members": [{"psn_no": "C1", "relation": "child"}, {"psn_no": "B1", "relation": "sibling"}]}
    refused = client.post("/api/v1/policies", json=sibling, headers=me)
    assert refused.status_code == 422
    assert refused.json()["code"] == "relation_not_allowed" and refused.json()["field"] == "members[1].psn_no"
    assert "兄弟姐妹" in refused.json()["message"]
    other = client.post("/api/v1/policies", json={**order, "payer": "S1"}, headers=me)
    assert other.status_code == 403 and other.json()["code"] == "payer_not_self"
    unknown = client.get("/api/v1/eligibility", params={"plan": "nowhere-2024", "psn_no": "S1"}, headers=me)
    assert unknown.status_code == 404 and unknown.json()["field"] == "plan"


def test_a_clerk_enrolls_a_veteran_at_the_counter_late_in_the_year(
    client: TestClient, sign_in: Any, app_settings: Any
) -> None:
    upload(client, sign_in("admin"), roster_csv())
    app_settings.today = date(2024, 6, 1)
    clerk = sign_in("clerk")
    order = {
        "plan": "liaocheng-2024",
        "payer": "V1",
        "channel": "counter",
        "members": [{"psn_no": "V1", "relation": "self"}],
    }
    res = client.post("/api/v1/policies", json=order, headers=clerk)
    assert res.status_code == 201, res.text
    policy = res.json()["policies"][0]
    assert (policy["status"], policy["cover_start"]) == ("active", "2024-06-01")
    late = client.post(
        "/api/v1/policies",
        json={**order, "payer": "C1", "members": [{"psn_no": "C1", "relation": "self"}]},
        headers=clerk,
    )
    assert late.status_code == 422 and late.json()["code"] == "outside_window"


def test_the_payer_may_give_a_mobile_phone_kept_encrypted_and_masked(client: TestClient, sign_in: Any) -> None:
    """The order's optional ``phone`` is the payer's contact mobile: checked (nothing bought when it is not
    one), kept on their roster record SM4-encrypted, shown masked, the change audited with masked numbers."""
    upload(client, sign_in("admin"), roster_csv())
    me = sign_in("resident", psn_no="E1")
    order = {
        "plan": "liaocheng-2024",
        "payer": "E1",
        "channel": "online",
        "members": [{"psn_no": "E1", "relation": "self"}],
    }
    bad = client.post("/api/v1/policies", json={**order, "phone": "0635-8888888"}, headers=me)
    assert (bad.status_code, bad.json()["code"], bad.json()["field"]) == (422, "invalid_phone", "phone")
    assert "0635" not in bad.text and client.get("/api/v1/policies/mine", headers=me).json() == []
    res = client.post("/api/v1/policies", json={**order, "phone": "138 1234 1234"}, headers=me)
    assert res.status_code == 201, res.text
    assert client.get("/api/v1/persons/me", headers=me).json()["phone"] == "138****1234"
    clerk = sign_in("clerk")
    shown = client.get("/api/v1/persons/E1", params={"reveal": "true"}, headers=clerk).json()
    assert shown["phone"] == "13812341234"
    with client.app.state.db.session() as s:
        entry = s.scalars(sa.select(AuditEntry).where(AuditEntry.action == "person.set_phone")).one()
    assert (entry.actor, entry.entity_id, entry.before, entry.after) == (
        "resident-2", "E1", '{"phone": null}', '{"phone": "138****1234"}',
    )  # fmt: skip
    counter = {**order, "payer": "V1", "channel": "counter", "members": [{"psn_no": "V1", "relation": "self"}]}
    assert (
        client.post("/api/v1/policies", json={**counter, "phone": "+86 19912345678"}, headers=clerk).status_code == 201
    )
    assert client.get("/api/v1/persons/V1", headers=clerk).json()["phone"] == "199****5678"


def _counter_policy(client: TestClient, sign_in: Any, psn_no: str = "S1") -> dict:
    upload(client, sign_in("admin"), roster_csv())
    order = {
        "plan": "liaocheng-2024",
        "payer": psn_no,
        "channel": "counter",
        "members": [{"psn_no": psn_no, "relation": "self"}],
    }
    res = client.post("/api/v1/policies", json=order, headers=sign_in("clerk"))
    assert res.status_code == 201, res.text
    return res.json()["policies"][0]


def test_the_e_policy_pdf_reads_in_chinese_and_its_qr_code_verifies(
    client: TestClient, sign_in: Any, tmp_path: Any
) -> None:
    import re
    import shutil
    import subprocess

    from tests.conftest import missing

    for tool in ("pdftotext", "pdftoppm", "zbarimg"):
        if shutil.which(tool) is None:
            missing(f"{tool} not installed; apt-get install -y poppler-utils zbar-tools")
    policy = _counter_policy(client, sign_in)
    me = sign_in("resident", psn_no="S1")
    res = client.get(f"/api/v1/policies/{policy['policy_no']}/epolicy.pdf", headers=me)
    assert res.status_code == 200 and res.headers["content-type"] == "application/pdf"
    pdf = tmp_path / "e.pdf"
    pdf.write_bytes(res.content)
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    for expected in (
        "聊惠保 电子保单",
        policy["policy_no"],
        "2024-01-01 至 2024-12-31",
        "89.00 元",
        "住院",
        "免赔额",
        "80%",
    ):
        assert expected in text, expected
    certno = make_certno("371502", date(1985, 5, 5), 2)
    assert certno[:6] + "********" + certno[-4:] in text and certno not in text and "居民2" not in text
    subprocess.run(["pdftoppm", "-r", "150", "-png", str(pdf), str(tmp_path / "page")], check=True)
    png = next(tmp_path.glob("page*.png"))
    qr = subprocess.run(["zbarimg", "--quiet", "--raw", str(png)], capture_output=True, text=True, check=True).stdout
    url = qr.strip()
    assert re.fullmatch(r"http://testserver/verify/[0-9A-F]{12}", url), url
    code = url.rsplit("/", 1)[1]
    public = client.get(f"/api/v1/verify/{code}").json()  # no sign-in
    assert public["valid"] is False and public["reason"] == "保单已生效，保障自 2024-01-01 开始"
    assert policy["policy_no"] not in str(public) and "S1" not in str(public)
    page = client.get(f"/verify/{code}")
    assert page.status_code == 200 and "聊惠保" in page.text and "保单已生效" in page.text
    assert client.get("/verify/NOPE").status_code == 404
    other = sign_in("resident", psn_no="C1")
    assert client.get(f"/api/v1/policies/{policy['policy_no']}/epolicy.pdf", headers=other).status_code == 403


def _online_order(client: TestClient, sign_in: Any) -> tuple[dict, dict[str, str]]:
    upload(client, sign_in("admin"), roster_csv())
    me = sign_in("resident", psn_no="E1")
    order = {"plan": "liaocheng-2024", "payer": "E1", "channel": "online",
             "members": [{"psn_no": "E1", "relation": "self"}, {"psn_no": "C1", "relation": "child"}]}  # fmt: skip
    res = client.post("/api/v1/policies", json=order, headers=me)
    assert res.status_code == 201, res.text
    return res.json(), me


def test_the_gateways_signed_callback_pays_the_order_once(client: TestClient, sign_in: Any, app_settings: Any) -> None:
    from huiminbao.enrollment.payment import SIGNATURE_HEADER, SimulatedGateway, sign

    placed, me = _online_order(client, sign_in)
    gateway = SimulatedGateway(app_settings.payment_secret)
    body, signature = gateway.callback(placed["order"], 17800)
    forged = client.post("/api/v1/payments/callback", content=body, headers={SIGNATURE_HEADER: "0" * 64})
    assert forged.status_code == 401 and forged.json()["code"] == "bad_signature"
    short, short_sig = gateway.callback(placed["order"], 8900)
    wrong = client.post("/api/v1/payments/callback", content=short, headers={SIGNATURE_HEADER: short_sig})
    assert wrong.status_code == 422 and wrong.json()["code"] == "amount_mismatch"
    for _ in range(2):  # the gateway retries: the same answer, nothing paid twice
        res = client.post("/api/v1/payments/callback", content=body, headers={SIGNATURE_HEADER: signature})
        assert res.status_code == 200, res.text
    assert res.json() == {"order": placed["order"], "status": "paid", "repeated": True}
    mine = client.get("/api/v1/policies/mine", headers=me).json()[0]
    assert mine["status"] == "paid" and {p["status"] for p in mine["policies"]} == {"active"}
    garbage = b'{"order_no": 1}'
    bad = client.post(
        "/api/v1/payments/callback",
        content=garbage,
        headers={SIGNATURE_HEADER: sign(garbage, app_settings.payment_secret)},
    )
    assert bad.status_code == 422 and bad.json()["code"] == "bad_callback"


def test_the_simulator_pays_through_the_same_callback(client: TestClient, sign_in: Any, app_settings: Any) -> None:
    placed, me = _online_order(client, sign_in)
    off = client.post(f"/api/v1/payments/simulate/{placed['order']}", headers=me)
    assert off.status_code == 404 and off.json()["code"] == "simulator_off"
    app_settings.payment_simulator = True
    other = client.post(f"/api/v1/payments/simulate/{placed['order']}", headers=sign_in("resident", psn_no="S1"))
    assert other.status_code == 403
    failed = client.post(f"/api/v1/payments/simulate/{placed['order']}?fail=true", headers=me).json()
    assert failed == {"order": placed["order"], "status": "pending_payment", "repeated": False}
    paid = client.post(f"/api/v1/payments/simulate/{placed['order']}", headers=me).json()
    assert paid["status"] == "paid"


def test_cancellation_follows_the_plans_refund_rule(client: TestClient, sign_in: Any, app_settings: Any) -> None:
    """Assumed rule (the seeds are silent): full refund before cover starts, none after."""
    placed, me = _online_order(client, sign_in)
    unpaid = placed["policies"][1]["policy_no"]
    res = client.post(f"/api/v1/policies/{unpaid}/cancel", headers=me).json()
    assert (res["status"], res["refund"]) == ("cancelled", "0.00")
    policy = _counter_policy(client, sign_in, "S1")  # paid at the counter, 89.00
    other = client.post(f"/api/v1/policies/{policy['policy_no']}/cancel", headers=me)
    assert other.status_code == 403
    clerk = sign_in("clerk")
    app_settings.today = date(2024, 2, 1)
    late = client.post(f"/api/v1/policies/{policy['policy_no']}/cancel", headers=clerk)
    assert late.status_code == 422 and late.json()["code"] == "cover_started"
    assert late.json()["message"] == "保障已于 2024-01-01 开始，按规则不予退保（退保规则为假设，来源文件未规定）"
    app_settings.today = date(2023, 12, 20)
    done = client.post(f"/api/v1/policies/{policy['policy_no']}/cancel", headers=clerk).json()
    assert (done["status"], done["refund"]) == ("refunded", "89.00")
    assert done["reason"].startswith("保障开始前退保，退还保费的 100%：89.00 元")
    again = client.post(f"/api/v1/policies/{policy['policy_no']}/cancel", headers=clerk)
    assert again.status_code == 422 and again.json()["code"] == "not_cancellable"
    rebuy = {
        "plan": "liaocheng-2024",
        "payer": "S1",
        "channel": "counter",
        "members": [{"psn_no": "S1", "relation": "self"}],
    }
    taken_up = client.post("/api/v1/policies", json=rebuy, headers=clerk)
    assert taken_up.status_code == 201 and taken_up.json()["policies"][0]["policy_no"] == policy["policy_no"]


def test_refund_rules_pro_rata_and_after_the_cover_period() -> None:
    from huiminbao.enrollment.lifecycle import CancelRefused, refund_due
    from huiminbao.enrollment.models import Policy
    from huiminbao.plans import load_plan
    from huiminbao.plans.schema import AfterStart

    plan = load_plan("liaocheng-2024")
    assert plan.enrollment.refund is not None
    pro_rata = plan.model_copy(
        update={
            "enrollment": plan.enrollment.model_copy(
                update={"refund": plan.enrollment.refund.model_copy(update={"after_start": AfterStart.PRO_RATA})}
            )
        }
    )
    policy = Policy(premium_fen=8900, cover_start=date(2024, 1, 1), cover_end=date(2024, 12, 31))
    amount, why = refund_due(pro_rata, policy, date(2024, 7, 1))
    assert amount == 4450 and why.startswith("退还未使用的 183 天保费（共 366 天）：44.50 元")  # 2024 is a leap year
    assert refund_due(pro_rata, policy, date(2024, 12, 31))[0] == 0  # the last day is still covered
    assert refund_due(pro_rata, policy, date(2024, 1, 2))[0] == 8851  # 8900 * 364 / 366 = 8851.37
    assert refund_due(pro_rata, policy, date(2024, 12, 29))[0] == 49  # 8900 * 2 / 366 = 48.63, half up
    with pytest.raises(CancelRefused, match="保障期已于 2024-12-31 结束"):
        refund_due(pro_rata, policy, date(2025, 1, 2))


def test_an_employer_buys_for_a_list(client: TestClient, sign_in: Any) -> None:
    _counter_policy(client, sign_in, "S1")  # S1 is insured already
    clerk = sign_in("clerk")
    c1 = make_certno("371502", date(1985, 5, 5), 3)  # C1, given by ID number
    listing = f"psn_no,certno,name\nE1,,x\n,{c1},y\nS1,,z\nNOPE,,w\nE1,,again\n".encode()
    files = {"file": ("staff.csv", listing, "text/csv")}
    q = client.post("/api/v1/groups/quote", data={"plan": "liaocheng-2024"}, files=files, headers=clerk).json()
    assert (q["members"], q["eligible"], q["total"]) == (5, 2, "178.00")
    assert [(r["line"], r["code"]) for r in q["refused"]] == [
        (4, "already_insured"),
        (5, "not_in_roster"),
        (6, "duplicate"),
    ]
    assert c1 not in str(q)
    res = client.post(
        "/api/v1/groups/orders", data={"plan": "liaocheng-2024", "payer_name": "聊城某公司"}, files=files, headers=clerk
    )
    assert res.status_code == 201, res.text
    body = res.json()
    assert body["order"]["channel"] == "group" and body["order"]["status"] == "paid"
    assert sorted(p["psn_no"] for p in body["order"]["policies"]) == ["C1", "E1"]
    again = client.post(
        "/api/v1/groups/orders", data={"plan": "liaocheng-2024", "payer_name": "聊城某公司"}, files=files, headers=clerk
    )
    assert again.json()["order"] is None and again.json()["eligible"] == 0  # re-sending the list buys nothing twice
    bad = client.post(
        "/api/v1/groups/quote", data={"plan": "liaocheng-2024"}, files={"file": ("x.csv", b"a\n1\n")}, headers=clerk
    )
    assert bad.status_code == 422 and bad.json()["code"] == "bad_list"


def test_a_charity_fund_pays_until_it_is_used_up(client: TestClient, sign_in: Any) -> None:
    """Liaocheng 2024: a charity donated premiums for people in hardship; never a fen more than it holds."""
    upload(client, sign_in("admin"), roster_csv())
    fund = client.post(
        "/api/v1/charity/funds",
        json={"name": "某慈善基金会", "plan": "liaocheng-2024", "amount": "200.00"},
        headers=sign_in("finance"),
    )
    assert fund.status_code == 201, fund.text
    fund_id = fund.json()["id"]
    listing = b"psn_no\nE1\nS1\nC1\n"
    res = client.post(
        "/api/v1/groups/orders", data={"plan": "liaocheng-2024", "payer_name": "某慈善基金会", "fund_id": str(fund_id)},
        files={"file": ("hardship.csv", listing, "text/csv")}, headers=sign_in("clerk"),
    ).json()  # fmt: skip
    assert [p["psn_no"] for p in res["order"]["policies"]] == ["E1", "S1"] and res["order"]["channel"] == "charity"
    assert res["refused"] == [
        {"line": 4, "person": "C1", "code": "fund_exhausted", "reason": "慈善资金余额不足（余 22.00 元）"}
    ]
    left = client.get(f"/api/v1/charity/funds/{fund_id}", headers=sign_in("admin")).json()
    assert (left["donated"], left["balance"]) == ("200.00", "22.00")


def test_a_newborn_is_covered_with_both_parents(client: TestClient, sign_in: Any, app_settings: Any) -> None:
    """Seed 001: 2024 年的新生儿其父母双方均已投保 2024 年度"聊惠保"的，新生儿自出生起自动享受保障."""
    baby = f"N1,{make_certno('371502', date(2024, 3, 3), 9)},新生儿,1,2024-03-03,390,371502,1,2024-03-10,"
    app_settings.today = date(2024, 4, 1)
    upload(client, sign_in("admin"), roster_csv([baby]))
    app_settings.today = IN_WINDOW
    clerk = sign_in("clerk")
    both = {"plan": "liaocheng-2024", "payer": "E1", "channel": "counter",
            "members": [{"psn_no": "E1", "relation": "self"}, {"psn_no": "S1", "relation": "spouse"}]}  # fmt: skip
    client.post("/api/v1/policies", json={**both, "members": both["members"][:1]}, headers=clerk)
    app_settings.today = date(2024, 4, 1)
    body = {"plan": "liaocheng-2024", "child": "N1", "parents": ["E1", "S1"]}
    refused = client.post("/api/v1/policies/newborn", json=body, headers=sign_in("resident", psn_no="E1"))
    assert refused.status_code == 422 and refused.json()["field"] == "parents[1]"
    assert refused.json()["message"] == "父母 S1 未持有有效的聊惠保保单，新生儿不能随父母参保"
    app_settings.today = IN_WINDOW
    client.post(
        "/api/v1/policies",
        json={**both, "payer": "S1", "members": [{"psn_no": "S1", "relation": "self"}]},
        headers=clerk,
    )
    app_settings.today = date(2024, 4, 1)
    res = client.post("/api/v1/policies/newborn", json=body, headers=sign_in("resident", psn_no="E1"))
    assert res.status_code == 201, res.text
    policy = res.json()["policies"][0]
    assert (policy["premium"], policy["cover_start"], policy["status"]) == ("0.00", "2024-03-03", "active")
    stranger = client.post("/api/v1/policies/newborn", json=body, headers=sign_in("resident", psn_no="C1"))
    assert stranger.status_code == 403


def test_enrollment_so_far_by_district_type_and_age(client: TestClient, sign_in: Any) -> None:
    many = [
        f"M{i},{make_certno('371502', date(1950 + i % 3, 1, 1), 100 + i)},甲{i},1,{1950 + i % 3}-01-01,390,371502,1,2015-01-01,"
        for i in range(12)
    ]
    upload(client, sign_in("admin"), roster_csv(many))
    clerk = sign_in("clerk")
    for i in range(6):
        order = {
            "plan": "liaocheng-2024",
            "payer": f"M{i}",
            "channel": "counter",
            "members": [{"psn_no": f"M{i}", "relation": "self"}],
        }
        assert client.post("/api/v1/policies", json=order, headers=clerk).status_code == 201
    stats = client.get(
        "/api/v1/supervision/enrollment", params={"plan": "liaocheng-2024"}, headers=sign_in("supervisor")
    ).json()
    old = next(c for c in stats["cells"] if c["area"] == "371502" and c["age_band"] == "70 岁及以上")
    # 12 persons, yet hidden: the total (17) less it would give the 18-39 band's five, a small margin
    assert (old["insured"], old["policies"], old["rate"], old["complement"]) == (None, None, None, True)
    small = [c for c in stats["cells"] if c["suppressed"]]
    assert small and all(c["insured"] is None and c["rate"] is None for c in small)
    assert stats["total"]["insured"] == 17 and stats["total"]["policies"] == 6
    page = client.get("/supervision/enrollment?plan=liaocheng-2024", headers=sign_in("supervisor"))
    assert page.status_code == 200 and "投保率 35.3%" in page.text and "不足 10 人，不显示" in page.text
    assert (
        client.get("/api/v1/supervision/enrollment", params={"plan": "liaocheng-2024"}, headers=clerk).status_code
        == 403
    )


def test_a_busy_database_answers_503_and_nothing_changes(
    client: TestClient, sign_in: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlalchemy as sa

    import huiminbao.api.routes.enrollment as routes

    def locked(**_: Any) -> None:
        raise sa.exc.OperationalError("INSERT", {}, Exception("database is locked"))

    monkeypatch.setattr(routes, "check_eligibility", locked)
    res = client.get("/api/v1/eligibility", params={"plan": "liaocheng-2024", "psn_no": "E1"}, headers=sign_in("clerk"))
    assert res.status_code == 503 and res.json()["code"] == "busy" and res.headers["retry-after"] == "1"


@pytest.mark.parametrize(
    ("form", "words"),
    [
        ({"payer": "", "channel": "counter"}, "请检查 payer：至少应有 1 个字符"),
        (
            {"payer": "P1", "channel": "pigeon"},
            "请检查 channel：应为 personal_account、online、counter、group 或 charity 之一",
        ),
    ],
)
def test_a_bad_enrollment_form_is_explained_in_chinese(
    client: TestClient, sign_in: Any, form: dict[str, str], words: str
) -> None:
    """The enrollment form's own checks (before any order is placed) read in Chinese too (issue 7)."""
    sign_in("admin")
    data = {"csrf_token": csrf(client), "plan": "liaocheng-2024", "member_psn_no": "P1", "member_relation": "self"}
    res = client.post("/enroll", data=data | form)
    assert res.status_code == 422 and words in res.text, res.text
