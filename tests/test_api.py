"""The REST API: health, OpenAPI, plans; and that the request log carries no raw paths."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from structlog.testing import capture_logs

from huiminbao.api.app import create_app
from huiminbao.plans import PlanError
from huiminbao.settings import Settings


def test_healthz_ok(client: TestClient) -> None:
    r = client.get("/healthz")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok" and body["database"] == "ok"
    assert body["version"] and body["schema_revision"] == "0010"


def test_healthz_reports_unreachable_database(tmp_path: Path) -> None:
    settings = Settings(var_dir=tmp_path, database_url="postgresql+psycopg://nobody@127.0.0.1:1/none")
    with TestClient(create_app(settings)) as c:
        r = c.get("/healthz")
    assert r.status_code == 503
    assert r.json()["status"] == "error"


def test_openapi_lists_routes(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert spec["info"]["title"] == "惠民保运营平台 API"
    assert {"/healthz", "/api/v1/plans", "/api/v1/plans/{plan_id}", "/api/v1/estimate"} <= set(spec["paths"])
    assert "/" not in spec["paths"]  # web pages stay out of the API description


def test_docs_page_is_local(client: TestClient) -> None:
    html = client.get("/docs").text
    assert "/static/swagger-ui-bundle.js" in html
    assert "cdn" not in html.lower() and "https://" not in html
    assert client.get("/static/swagger-ui-bundle.js").status_code == 200


def test_list_plans(client: TestClient) -> None:
    plans = client.get("/api/v1/plans").json()
    by_id = {p["id"]: p for p in plans}
    lc = by_id["liaocheng-2024"]
    assert (lc["name"], lc["city"], lc["year"], lc["status"]) == ("聊惠保", "聊城市", 2024, "official")
    assert len(lc["tiers"][0]["liabilities"]) == 4
    assert {p["status"] for p in plans} <= {"official", "news", "from_qa", "illustrative"}


def test_get_plan_amounts_are_yuan_and_ratios_as_written(client: TestClient) -> None:
    """Inside, 16,000 yuan is 1,600,000 fen and 80% is 8000 bp; at the edge they are written as the plan file does."""
    plan = client.get("/api/v1/plans/liaocheng-2024").json()
    first = plan["tiers"][0]["liabilities"][0]
    assert first["deductible"]["amount"] == "16000.00"
    assert first["ratio"]["default"] == "80%"
    assert first["limit"]["amount"] == "1000000.00"
    assert plan["tiers"][0]["premiums"][0]["amount"] == "89.00"
    assert plan["loss_ratio_floor"] == "80%"
    quzhou = client.get("/api/v1/plans/quzhou-2021").json()
    counting = next(x for x in quzhou["tiers"][0]["liabilities"] if x["id"] == "outofcatalog_drugs")["counting"]
    assert counting[0]["factor"] == "50%"


def test_unknown_and_malformed_plan_ids(client: TestClient) -> None:
    missing = client.get("/api/v1/plans/no-such-plan")
    assert missing.status_code == 404
    assert missing.json() == {"code": "plan_not_found", "message": "没有方案 no-such-plan", "field": "plan"}
    bad = client.get("/api/v1/plans/Bad_ID")
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_request" and bad.json()["field"] == "plan_id"
    assert client.get("/api/v1/plans/..%2F..%2Fetc").status_code in (404, 422)


def test_broken_plan_file_names_file_and_field(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> list[Any]:
        raise PlanError("extra/x.yaml", [("tiers[0].liabilities[1].base", "unknown field 'foo'")])

    monkeypatch.setattr("huiminbao.api.routes.plans.list_plans", broken)
    r = client.get("/api/v1/plans")
    assert r.status_code == 500
    body = r.json()
    assert body["code"] == "plan_invalid"
    assert "extra/x.yaml" in body["message"] and body["field"] == "tiers[0].liabilities[1].base"


def test_request_log_has_route_not_path(client: TestClient) -> None:
    """Later routes carry ID numbers in paths and queries: the log keeps only the route template."""
    with capture_logs() as logs:
        client.get("/api/v1/plans/liaocheng-2024?certno=371502198001010011")
    entries = [e for e in logs if e.get("event") == "request"]
    assert entries and entries[-1]["route"] == "/api/v1/plans/{plan_id}" and entries[-1]["status"] == 200
    assert "371502198001010011" not in repr(logs) and "liaocheng-2024" not in repr(entries)


def test_unknown_routes_and_methods_answer_the_error_body(client: TestClient) -> None:
    r = client.get("/api/v1/nowhere")
    assert r.status_code == 404 and r.json() == {"code": "not_found", "message": "请求的地址不存在", "field": None}
    r = client.delete("/api/v1/plans")
    assert r.status_code == 405 and r.json()["code"] == "method_not_allowed"
    page = client.get("/no-such-page")
    assert page.status_code == 404 and "未找到" in page.text  # web paths keep their HTML page
