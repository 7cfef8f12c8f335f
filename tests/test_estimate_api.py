"""试算 through the REST API and the web page, as a hospital system and a resident use them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

ROOT = Path(__file__).resolve().parents[1]
CASE = json.loads((ROOT / "examples" / "liaocheng-2024-two-stays.json").read_text(encoding="utf-8"))
SCREENSHOTS = ROOT / "var" / "screenshots"


def test_api_estimate_explains_each_settlement(client: TestClient) -> None:
    res = client.post("/api/v1/estimate", json=CASE)
    assert res.status_code == 200, res.text
    body = res.json()
    assert body["total_payout"] == "3200.00"
    assert [s["payout"] for s in body["settlements"]] == ["0.00", "3200.00"]
    assert "certno" not in res.text and CASE["person"]["certno"] not in res.text


def test_api_estimate_names_the_bad_record_and_field(client: TestClient) -> None:
    bad = json.loads(json.dumps(CASE))
    bad["settlements"][1]["medfee_sumamt"] = "1.00"
    res = client.post("/api/v1/estimate", json=bad)
    assert res.status_code == 422
    body = res.json()
    assert (body["code"], body["field"]) == ("invalid_record", "medfee_sumamt")
    assert "371500202406200002" in body["message"]
    unknown = client.post("/api/v1/estimate", json={**CASE, "plan": "atlantis-2024"})
    assert unknown.status_code == 404 and unknown.json()["code"] == "plan_not_found"
    incomplete = client.post("/api/v1/estimate", json={**CASE, "plan": "liaocheng-2022"})
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
def test_bad_input_is_a_4xx_with_the_error_body_never_a_500(client: TestClient, change: Any, code: str, field: str):
    case = json.loads(json.dumps(CASE))
    change(case)
    res = client.post("/api/v1/estimate", json=case)
    assert res.status_code == 422, res.text
    body = res.json()
    assert (body["code"], body["field"]) == (code, field)
    assert body["message"]
    broken = client.post("/api/v1/estimate", content=b"{not json", headers={"content-type": "application/json"})
    assert broken.status_code == 422 and broken.json()["code"] == "invalid_request"


def test_estimate_answers_reasons(client: TestClient) -> None:
    body = client.post("/api/v1/estimate", json=CASE).json()
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
    res = client.post("/estimate", data=form)
    assert '预计赔付 <span class="total">3200.00</span> 元' in res.text
    res = client.post("/estimate", data={"plan": "liaocheng-2024", "inscp_0": "abc"})
    assert "无法试算" in res.text and "inscp_0" in res.text


@pytest.mark.slow
def test_estimate_in_browser(live_server: str, page: Any) -> None:
    page.goto(live_server + "/estimate")
    page.get_by_role("button", name="试算").click()
    page.wait_for_selector("#estimate-result .total")
    assert page.locator("#estimate-result .total").inner_text() == "3200.00"
    assert page.locator("table.eob").count() == 2
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "estimate.png"), full_page=True)
