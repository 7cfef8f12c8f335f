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
    res = client.post("/api/estimate", json=CASE)
    assert res.status_code == 200, res.text
    body = res.json()
    assert body["total_payout"] == "3200.00"
    assert [s["payout"] for s in body["settlements"]] == ["0.00", "3200.00"]
    assert "certno" not in res.text and CASE["person"]["certno"] not in res.text


def test_api_estimate_names_the_bad_record_and_field(client: TestClient) -> None:
    bad = json.loads(json.dumps(CASE))
    bad["settlements"][1]["medfee_sumamt"] = "1.00"
    res = client.post("/api/estimate", json=bad)
    assert res.status_code == 422
    assert "settlement 371500202406200002: medfee_sumamt" in res.json()["detail"]
    assert client.post("/api/estimate", json={**CASE, "plan": "atlantis-2024"}).status_code == 404
    assert "不能用于理算" in client.post("/api/estimate", json={**CASE, "plan": "liaocheng-2022"}).text


def test_estimate_is_in_the_openapi_document(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert "/api/estimate" in spec["paths"]


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
