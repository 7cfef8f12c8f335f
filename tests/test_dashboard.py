"""The supervision dashboards as their users reach them: the JSON API and the pages, who may open them, and
that a small cell reaches neither as a number."""

from __future__ import annotations

import json
import re
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient

from huiminbao.money import to_fen, to_yuan_grouped
from huiminbao.plans import load_plan
from huiminbao.supervision import lossratio
from huiminbao.web.dashboard import Section
from tests.figures_world import demo_year


@pytest.fixture
def app_settings(app_settings: Any) -> Any:
    app_settings.today = date(2024, 12, 1)  # HMB_TODAY: claims and cases are overdue on this day
    return app_settings


@pytest.fixture
def city(client: TestClient) -> dict[str, Any]:
    with client.app.state.db.session() as s:
        return demo_year(s, people=200)


def test_the_api_gives_every_figure_in_yuan_with_small_cells_suppressed(
    client: TestClient, sign_in: Any, city: dict[str, Any]
) -> None:
    res = client.get("/api/v1/supervision/dashboard", params={"plan": "liaocheng-2024"}, headers=sign_in("supervisor"))
    assert res.status_code == 200, res.text
    body = res.json()
    assert set(body) >= {"enrollment", "premium", "payouts", "beneficiaries", "claims", "complaints"}
    assert body["enrollment"]["total"]["policies"] == city["holders"] + 3
    small = next(r for r in body["enrollment"]["by_district"] if r["key"] == "371526")
    assert small == {"key": "371526", "name": "371526", "insured": None, "policies": None, "rate_bp": None,
                     "suppressed": True, "complement": False}  # fmt: skip
    assert re.fullmatch(r"\d+\.\d\d", body["payouts"]["total"]["payout"])
    assert "payout_fen" not in json.dumps(body)
    assert body["claims"]["today"] == body["complaints"]["today"] == "2024-12-01"
    march = client.get(
        "/api/v1/supervision/dashboard",
        params={"plan": "liaocheng-2024", "start": "2024-03-01", "end": "2024-03-31"},
        headers=sign_in("admin"),
    ).json()
    assert [r["month"] for r in march["payouts"]["by_month"]] == ["2024-03"]
    with client.app.state.db.sessions() as s:  # valued on the platform's today, or the period's end
        today = lossratio.loss_ratio(session=s, plan=load_plan("liaocheng-2024"), as_of=date(2024, 12, 1))
        march_end = lossratio.loss_ratio(session=s, plan=load_plan("liaocheng-2024"), as_of=date(2024, 3, 31))
    assert body["loss_ratio"] == today and march["loss_ratio"] == march_end
    assert march_end["years"][-1]["incurred"] != today["years"][-1]["incurred"]


def test_the_api_refuses_bad_periods_and_other_roles(client: TestClient, sign_in: Any) -> None:
    supervisor = sign_in("supervisor")
    url = "/api/v1/supervision/dashboard"
    backwards = client.get(url, params={"plan": "liaocheng-2024", "start": "2024-05-01", "end": "2024-04-01"},
                           headers=supervisor)  # fmt: skip
    assert backwards.status_code == 422 and backwards.json()["code"] == "bad_period"
    assert backwards.json()["field"] == "start"
    garbled = client.get(url, params={"plan": "liaocheng-2024", "start": "2024-13-01"}, headers=supervisor)
    assert garbled.status_code == 422 and garbled.json()["field"] is not None
    assert client.get(url, params={"plan": "nowhere-2024"}, headers=supervisor).status_code == 404
    for role in ("resident", "hospital", "clerk", "adjuster", "actuary"):
        assert client.get(url, params={"plan": "liaocheng-2024"}, headers=sign_in(role)).status_code == 403, role
    other = client.get(url, params={"plan": "quzhou-2021"}, headers=sign_in("finance"))  # DEMO-A does not underwrite it
    assert other.status_code == 403 and other.json()["code"] == "not_own_consortium"


def test_each_page_shows_its_charts_and_tables_and_small_cells_as_under_ten(
    client: TestClient, sign_in: Any, city: dict[str, Any]
) -> None:
    sign_in("supervisor")
    for section in Section:
        page = client.get("/supervision/dashboard", params={"plan": "liaocheng-2024", "section": section.value})
        assert page.status_code == 200, (section, page.text)
        specs = json.loads(re.search(r'id="chart-specs">(.*?)</script>', page.text, re.S).group(1))
        assert specs and all(f'id="{s["id"]}"' in page.text for s in specs)
        assert "<script>" not in page.text  # data only: the CSP forbids inline code
    enrollment = client.get("/supervision/dashboard", params={"plan": "liaocheng-2024"}).text
    row = re.search(r"<tr><td>371526 高唐县</td>(.*?)</tr>", enrollment, re.S)
    assert row and "&lt;10" in row.group(1) and re.search(r">\s*3\s*<", row.group(1)) is None
    odd = client.get("/supervision/dashboard", params={"plan": "liaocheng-2024", "start": "2024-02-30"})
    assert odd.status_code == 200 and "日期格式应为" in odd.text


def test_residents_and_hospitals_cannot_open_the_pages(client: TestClient, sign_in: Any) -> None:
    for role in ("resident", "hospital", "actuary"):
        sign_in(role)
        page = client.get("/supervision/dashboard", follow_redirects=False)
        assert page.status_code == 403, role


def test_finance_sees_its_own_consortiums_plans_only(client: TestClient, sign_in: Any) -> None:
    sign_in("finance")  # DEMO-A: underwrites Liaocheng, not Quzhou
    assert client.get("/supervision/dashboard", params={"plan": "quzhou-2021"}).status_code == 403
    page = client.get("/supervision/dashboard", params={"section": "payouts"})
    assert page.status_code == 200 and "quzhou-2021" not in page.text


def test_the_loss_ratio_tab_shows_the_judged_years_the_floor_the_warnings_and_the_ibnr(
    client: TestClient, sign_in: Any, city: dict[str, Any]
) -> None:
    sign_in("finance")  # DEMO-A underwrites Liaocheng: the dashboard's readers see the tab
    page = client.get("/supervision/dashboard", params={"plan": "liaocheng-2024", "section": "loss_ratio"})
    assert page.status_code == 200, page.text
    with client.app.state.db.sessions() as s:
        plan = load_plan("liaocheng-2024")
        lr = lossratio.loss_ratio(session=s, plan=plan, as_of=date(2024, 12, 1))
        tri = lossratio.ibnr(session=s, plan=plan, as_of=date(2024, 12, 1))
    specs = {s["id"]: s for s in json.loads(re.search(r'id="chart-specs">(.*?)</script>', page.text, re.S).group(1))}
    years = specs["chart-loss-ratio-years"]
    assert years["categories"] == ["2022 年", "2023 年", "2024 年"]
    series = {s["name"]: s for s in years["series"]}
    assert series["已付赔款"]["stack"] == series["IBNR"]["stack"] == "incurred" != series["已赚保费"]["stack"]
    assert series["赔付率"]["floor"]["value"] == 80 and series["赔付率"]["axis"] == 1
    mine = lr["years"][-1]
    assert series["赔付率"]["values"][-1] == mine["loss_ratio_bp"] / 100
    assert series["IBNR"]["values"][-1] == round(float(mine["ibnr"]) / 10_000, 2)
    assert series["已赚保费"]["values"][:2] == [None, None]  # 2022 and 2023 hold no policies: gaps, with a note
    assert "2022、2023 年度无保单数据" in page.text
    months = specs["chart-loss-ratio-ibnr"]
    assert months["categories"] == [r["origin"] for r in tri["rows"]] and months["stack"]
    facts = dict(re.findall(r"<dt>(.*?)</dt><dd>(.*?)</dd>", page.text))
    assert facts["3 年平均赔付率（含 IBNR）"] == lr["average"]["loss_ratio"]
    assert facts["方案要求"] == "不低于 80%" and facts["统计日"] == "2024-12-01"
    assert lr["warnings"] and all(f'<p class="why-not" role="alert">{w}</p>' in page.text for w in lr["warnings"])
    assert 'id="loss-ratio-verdict"' in page.text
    assert 'href="/supervision/loss-ratio?plan=liaocheng-2024&amp;as_of=2024-12-01"' in page.text
    table = re.search(r'id="chart-loss-ratio-years-table">(.*?)</table>', page.text, re.S).group(1)
    assert "无保单数据" in table and to_grouped(mine["incurred"]) in table
    march = client.get("/supervision/dashboard",
                       params={"plan": "liaocheng-2024", "section": "loss_ratio", "end": "2024-03-31"})  # fmt: skip
    assert "统计日：2024-03-31" in march.text


def to_grouped(yuan: str) -> str:
    return to_yuan_grouped(to_fen(yuan))


def test_the_pages_open_on_the_year_that_holds_policies_and_an_unknown_plan_is_not_found(
    client: TestClient, sign_in: Any, city: dict[str, Any]
) -> None:
    """With no plan asked for, an overseer's pages show the newest plan holding policies that has begun by
    the platform's date (2024 here), not next year's empty plan (liaocheng-2025 sorts first)."""
    sign_in("supervisor")
    for path in (
        "/supervision/dashboard",
        "/supervision/loss-ratio",
        "/supervision/reports",
        "/supervision/enrollment",
    ):
        page = client.get(path)
        assert page.status_code == 200, path
        chosen = re.search(r'<option value="([^"]+)"[^>]*selected', page.text)
        assert chosen and chosen.group(1) == "liaocheng-2024", path
    missing = client.get("/supervision/dashboard", params={"plan": "nowhere-2024"})
    assert missing.status_code == 404 and "方案 nowhere-2024" in missing.text and "<nav" in missing.text
