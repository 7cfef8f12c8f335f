"""The supervision dashboards in Chromium on a small city's year: every chart draws (a canvas of some size),
the page logs no error (the strict CSP included, tooltips too), a small cell reads "<10", and a resident
cannot open them. Full-page screenshots go to var/screenshots/dashboard-*.png for a person to look at."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa

from huiminbao.db import Database
from huiminbao.enrollment.models import InsuredPerson
from huiminbao.identity import audit
from huiminbao.identity.models import Role
from huiminbao.identity.service import create_user
from huiminbao.web.dashboard import SECTION_NAMES, Section
from tests.conftest import PASSWORD, SCREENSHOTS, browser_sign_in
from tests.figures_world import demo_year, late_settlements

pytestmark = pytest.mark.slow


@pytest.fixture
def app_settings(app_settings: Any) -> Any:
    """A city of 1,500 on the roster with about half enrolled and a year of settlements, claims and cases;
    some stays paid months after care; a supervisor and a resident."""
    app_settings.today = date(2024, 12, 1)
    db = Database.from_url(app_settings.database_url)
    try:
        with db.session() as s:
            demo_year(s, people=1500)
            late_settlements(s)  # the 赔付率 tab has IBNR to draw
            psn_no = s.scalars(sa.select(InsuredPerson.psn_no).limit(1)).one()
            for name, role, psn in (("sup", Role.SUPERVISOR, None), ("res", Role.RESIDENT, psn_no)):
                create_user(session=s, actor=audit.CLI, username=name, role=role, password=PASSWORD, psn_no=psn)
    finally:
        db.dispose()
    return app_settings


def test_every_dashboard_draws_its_charts_without_errors(page: Any, live_server: str) -> None:
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    browser_sign_in(page, live_server, "sup")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for section in Section:
        res = page.goto(f"{live_server}/supervision/dashboard?plan=liaocheng-2024&section={section.value}")
        assert res is not None and res.status == 200
        assert page.locator("nav.dashboard-sections a[aria-current=page]").inner_text() == SECTION_NAMES[section]
        charts = page.locator("div.chart")
        assert charts.count() > 0
        for i in range(charts.count()):
            canvas = charts.nth(i).locator("canvas").first
            canvas.wait_for(state="attached", timeout=10_000)
            box = canvas.bounding_box()
            assert box and box["width"] > 200 and box["height"] > 200, (section, i, box)
        if section == Section.LOSS_RATIO:  # the verdict and the warnings above the charts
            assert page.locator("#loss-ratio-verdict").is_visible()
            assert page.locator("p.why-not[role=alert]").count() > 0
        first = charts.first.bounding_box()
        assert first
        page.mouse.move(first["x"] + first["width"] / 2, first["y"] + first["height"] / 2)  # a tooltip
        page.wait_for_timeout(300)
        page.screenshot(path=str(SCREENSHOTS / f"dashboard-{section.value}.png"), full_page=True)
    assert problems == []


def test_a_small_district_reads_under_ten(page: Any, live_server: str) -> None:
    browser_sign_in(page, live_server, "sup")
    page.goto(f"{live_server}/supervision/dashboard?plan=liaocheng-2024")
    row = page.locator("#chart-district-table tr", has_text="371526")
    assert row.locator("td").nth(1).inner_text() == "<10"


def test_a_resident_cannot_open_the_dashboards(page: Any, live_server: str) -> None:
    browser_sign_in(page, live_server, "res")
    res = page.goto(f"{live_server}/supervision/dashboard?plan=liaocheng-2024")
    assert res is not None and res.status == 403
    assert page.locator("canvas").count() == 0
