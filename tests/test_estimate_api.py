"""试算 through the REST API and the web page, as a hospital system and a resident use them."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import csrf

ROOT = Path(__file__).resolve().parents[1]
CASE = json.loads((ROOT / "examples" / "liaocheng-2024-two-stays.json").read_text(encoding="utf-8"))
SCREENSHOTS = ROOT / "var" / "screenshots"


def test_api_estimate_explains_each_settlement(client: TestClient, sign_in: Any) -> None:
    res = client.post("/api/v1/estimate", json=CASE, headers=sign_in("resident"))
    assert res.status_code == 200, res.text
    body = res.json()
    assert body["total_payout"] == "3200.00"
    assert [s["payout"] for s in body["settlements"]] == ["0.00", "3200.00"]
    assert "certno" not in res.text and CASE["person"]["certno"] not in res.text


def test_api_estimate_names_the_bad_record_and_field(client: TestClient, sign_in: Any) -> None:
    auth = sign_in("clerk")
    bad = json.loads(json.dumps(CASE))
    bad["settlements"][1]["medfee_sumamt"] = "1.00"
    res = client.post("/api/v1/estimate", json=bad, headers=auth)
    assert res.status_code == 422
    body = res.json()
    assert (body["code"], body["field"]) == ("invalid_record", "medfee_sumamt")
    assert "371500202406200002" in body["message"]
    unknown = client.post("/api/v1/estimate", json={**CASE, "plan": "atlantis-2024"}, headers=auth)
    assert unknown.status_code == 404 and unknown.json()["code"] == "plan_not_found"
    incomplete = client.post("/api/v1/estimate", json={**CASE, "plan": "liaocheng-2022"}, headers=auth)
    assert incomplete.status_code == 422 and incomplete.json()["code"] == "plan_incomplete"
    assert "不能用于理算" in incomplete.json()["message"]


@pytest.mark.parametrize(
    ("change", "code", "field"),
    [
        (lambda c: c.pop("person"), "invalid_request", "person"),
        (lambda c: c.update(settlements="x"), "invalid_request", "settlements"),
        (lambda c: c["settlements"][0].update(inscp_scp_amt=1e30), "invalid_record", "inscp_scp_amt"),
        (lambda c: c["settlements"][0].update(inscp_scp_amt=99999999999999), "invalid_record", "inscp_scp_amt"),
    ],
)
def test_bad_input_is_a_4xx_with_the_error_body_never_a_500(
    client: TestClient, sign_in: Any, change: Any, code: str, field: str
):
    auth = sign_in("hospital")
    case = json.loads(json.dumps(CASE))
    change(case)
    res = client.post("/api/v1/estimate", json=case, headers=auth)
    assert res.status_code == 422, res.text
    body = res.json()
    assert (body["code"], body["field"]) == (code, field)
    assert body["message"]
    broken = client.post("/api/v1/estimate", content=b"{not json", headers={"content-type": "application/json", **auth})
    assert broken.status_code == 422 and broken.json()["code"] == "invalid_request"


def test_estimate_answers_reasons(client: TestClient, sign_in: Any) -> None:
    body = client.post("/api/v1/estimate", json=CASE, headers=sign_in("actuary")).json()
    first = next(x for x in body["settlements"][0]["lines"] if x["liability"] == "inpatient_inscope")
    assert first["reason"].startswith("未达免赔额")
    assert body["settlements"][0]["status"] == "covered"


def test_estimate_is_in_the_openapi_document(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    post = spec["paths"]["/api/v1/estimate"]["post"]
    assert post["responses"]["422"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorBody")
    setl = spec["components"]["schemas"]["SetlInfo"]["properties"]
    assert "医疗费总额" in setl["medfee_sumamt"]["description"]
    example = spec["components"]["schemas"]["EstimateCase"]["examples"][0]
    assert example["settlements"][0]["medfee_sumamt"] == "32000.00"


def test_estimate_form_posts_a_case(client: TestClient) -> None:
    page = client.get("/estimate")
    assert page.status_code == 200 and "赔付试算" in page.text
    assert "liaocheng-2022" not in page.text  # a plan lacking a figure is not offered
    form = {"plan": "liaocheng-2024", "insutype": "390", "birth_date": "1960-05-01"}
    form |= {"date_0": "2024-03-10", "med_type_0": "21", "inscp_0": "30000", "fund_0": "20000"}
    form |= {"date_1": "2024-06-10", "med_type_1": "21", "inscp_1": "30000", "fund_1": "20000"}
    form["csrf_token"] = csrf(client)
    res = client.post("/estimate", data=form)
    assert '预计赔付 <span class="total">3200.00</span> 元' in res.text
    forged = client.post("/estimate", data={**form, "csrf_token": "not the cookie's"})
    assert forged.status_code == 403 and "页面已过期或来源不明" in forged.text
    token = {"csrf_token": csrf(client)}
    res = client.post("/estimate", data={"plan": "liaocheng-2024", "inscp_0": "abc", **token})
    assert "无法试算" in res.text and "第 1 次就医的医保范围内费用“abc”不是金额" in res.text
    huge = client.post("/estimate", data={"plan": "liaocheng-2024", "date_0": "2024-03-01", "inscp_0": "1e30", **token})
    assert huge.status_code == 200 and "超出合理范围" in huge.text
    negative = client.post(
        "/estimate", data={"plan": "liaocheng-2024", "date_0": "2024-03-01", "inscp_0": "-5", **token}
    )
    assert "应为不小于 0 的金额" in negative.text


def test_estimate_form_explains_and_follows_the_plan(client: TestClient) -> None:
    page = client.get("/estimate").text
    assert re.search(
        r'<option value="upgraded" data-plan="zibo-2022"[^>]*>升级版</option>', page
    )  # tiers follow the plan
    assert 'value="poverty_alleviated"' in page and "脱贫享受政策人口" in page  # tags the plans read
    assert "XLCTD0001" in page  # drugs of the plans' catalogs
    assert 'src="/static/estimate.js"' in page and "onclick" not in page
    form = {"plan": "liaocheng-2024", "date_0": "2024-03-10", "med_type_0": "11", "inscp_0": "30000", "fund_0": "10000"}
    form |= {
        "date_1": "2024-05-10",
        "med_type_1": "41",
        "ownpay_1": "0",
        "drug_1": "XLCTD0001",
        "drug_amount_1": "50000",
    }
    form |= {"institution_1": "H37150200001", "csrf_token": csrf(client)}
    res = client.post("/estimate", data=form).text
    assert "不属于住院费用" in res  # outpatient under an inpatient liability, with its reason
    assert "27200.00" in res  # the drug at a county-level institution: (50,000 − 16,000) × 80%
    assert res.index("基本医疗保险范围内住院自付医疗费用") < res.index("特殊疗效药品费用")  # the plan page's order
    assert "计入金额" in res and "全年只在累计金额上四舍五入一次" in res  # the columns explained


def fill_stay(page: Any, k: int, **values: str) -> None:
    stay = page.locator("fieldset.stay").nth(k)
    for name, value in values.items():
        field = stay.locator(f"[data-name={name}]")
        if field.evaluate("e => e.tagName") == "SELECT":
            field.select_option(value)
        else:
            field.fill(value)


@pytest.mark.slow
def test_estimate_in_browser(live_server: str, page: Any) -> None:
    """A clerk on a desktop: two stays of Liaocheng 2024, a third added and removed, the explanation read."""
    page.goto(live_server + "/estimate")
    fill_stay(page, 0, date="2024-03-10", inscp="30000", fund="20000")
    page.get_by_role("button", name="添加一次就医").click()
    page.get_by_role("button", name="添加一次就医").click()
    assert page.locator("fieldset.stay").count() == 3
    page.locator("fieldset.stay").nth(2).get_by_role("button", name="删除").click()
    assert page.locator("fieldset.stay").count() == 2
    fill_stay(page, 1, date="2024-06-10", inscp="30000", fund="20000")
    page.get_by_role("button", name="试算", exact=True).click()
    page.wait_for_selector("#estimate-result .total")
    assert page.locator("#estimate-result .total").inner_text() == "3200.00"
    assert page.locator("table.eob").count() == 2
    assert "未达免赔额" in page.locator("table.eob").first.inner_text()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "estimate.png"), full_page=True)


@pytest.mark.slow
def test_estimate_on_a_phone(live_server: str, browser: Any) -> None:
    """A resident at 375 px: Zibo's upgraded tier, a drug line; no sideways scrolling, a huge amount is refused."""
    context = browser.new_context(locale="zh-CN", viewport={"width": 375, "height": 812}, is_mobile=True)
    page = context.new_page()
    try:
        page.goto(live_server + "/estimate")
        page.locator("select[name=plan]").select_option("zibo-2022")
        page.locator("select[name=tier]").select_option("upgraded")
        other = page.locator("select[name=tier] option[data-plan=liaocheng-2024]").first
        assert other.get_attribute("hidden") is not None  # only Zibo's tiers are offered
        page.get_by_label("脱贫享受政策人口").check()
        assert page.locator("input[type=date][name=date_0]").input_value().startswith("2022-")
        fill_stay(page, 0, inscp="100000", fund="60000")
        page.get_by_role("button", name="试算", exact=True).click()
        page.wait_for_selector("#estimate-result .total")
        assert page.locator("#estimate-result .total").inner_text() == "22500.00"  # (40,000 − 10,000 示意) × 75%
        assert "示意" in page.locator("#estimate-result").inner_text()
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "estimate-phone.png"), full_page=True)
        fill_stay(page, 0, inscp="99999999999999")
        page.get_by_role("button", name="试算", exact=True).click()
        page.wait_for_selector("#estimate-result .error")
        assert "超出合理范围" in page.locator("#estimate-result .error").inner_text()
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
    finally:
        context.close()


@pytest.mark.parametrize("settlements", [5, "x", {"setl_id": "1"}, None, []])
def test_a_case_whose_settlements_are_not_a_list_is_refused_naming_the_field(settlements: Any) -> None:
    from huiminbao.settlement.estimate import RecordError, estimate

    with pytest.raises(RecordError) as refused:
        estimate({"plan": "liaocheng-2024", "person": {"psn_no": "P1"}, "settlements": settlements})
    assert refused.value.field == "settlements"
