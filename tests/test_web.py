"""The web UI: pages render in Chinese from the plan files, no CDN, and work in a real browser."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import expect

from huiminbao.web import STATIC_DIR, TEMPLATES_DIR
from huiminbao.web.templating import status_label, yuan
from tests.conftest import csrf

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = ROOT / "var" / "screenshots"

EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", re.I)


def test_yuan_filter() -> None:
    assert [yuan(1_600_000), yuan(5), yuan(-123_456_789), yuan(None)] == ["16,000.00", "0.05", "-1,234,567.89", "—"]
    assert status_label("from_qa") == "问答页整理"


def test_home_lists_plans(client: TestClient) -> None:
    r = client.get("/")
    assert r.status_code == 200
    html = r.text
    assert '<html lang="zh-CN">' in html and "惠民保运营平台" in html
    assert 'href="/login"' in html and ">理赔<" not in html  # anonymous: the public menu and a sign-in link
    assert "聊惠保" in html and "惠衢保" in html and 'href="/plans/liaocheng-2024"' in html
    assert "正式文件" in html and "示意数据" in html


def test_home_filter(client: TestClient) -> None:
    html = client.get("/", params={"q": "淄博"}).text
    rows = html.split('id="plan-rows"')[1].split("</tbody>")[0]
    assert "淄博齐惠保" in rows and "聊惠保" not in rows


def test_plan_page_shows_liabilities_in_yuan(client: TestClient) -> None:
    html = client.get("/plans/liaocheng-2024").text
    assert "基本医疗保险范围内住院自付医疗费用" in html
    assert "16,000.00" in html and "1,000,000.00" in html and "80%" in html and "10%" in html
    assert "89.00 元/人/年" in html


def test_plan_page_marks_unknown_figures(client: TestClient) -> None:
    html = client.get("/plans/liaocheng-2022").text
    assert "未公布" in html and "新闻稿未给出免赔额金额" in html


def test_unknown_plan_page_is_404(client: TestClient) -> None:
    assert client.get("/plans/nowhere-1999").status_code == 404
    assert client.get("/plans/Bad_ID").status_code == 404


def test_no_cdn_anywhere(client: TestClient) -> None:
    """Bureau and hospital networks have no internet: every asset must come from /static."""
    for tpl in TEMPLATES_DIR.glob("*.html"):
        assert not EXTERNAL.search(tpl.read_text(encoding="utf-8")), tpl.name
    for path in ("/", "/plans/liaocheng-2024", "/docs"):
        assert not EXTERNAL.search(client.get(path).text), path
    for asset in ("htmx.min.js", "echarts.min.js", "app.css"):
        assert (STATIC_DIR / asset).stat().st_size > 0
        assert client.get(f"/static/{asset}").status_code == 200


@pytest.mark.slow
def test_home_in_browser(live_server: str, page: Any) -> None:
    page.goto(live_server + "/")
    assert page.title().startswith("方案一览")
    assert page.locator("a.brand").inner_text() == "惠民保运营平台"
    assert page.get_by_role("link", name="聊惠保").first.is_visible()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "home.png"), full_page=True)

    # HTMX: typing in the filter replaces the table body without a page load.
    page.fill("#q", "衢州")
    expect(page.locator("#plan-rows")).not_to_contain_text("聊惠保")  # no eval: the page forbids it (CSP)
    assert "惠衢保" in page.locator("#plan-rows").inner_text()
    assert "q=" in page.url

    page.fill("#q", "")
    expect(page.locator("#plan-rows")).to_contain_text("聊惠保")
    page.get_by_role("link", name="聊惠保").first.click()
    page.wait_for_load_state()
    assert "/plans/liaocheng-" in page.url
    assert page.locator("table.liabilities").first.is_visible()
    page.screenshot(path=str(SCREENSHOTS / "plan.png"), full_page=True)


@pytest.mark.slow
def test_serve_command_starts_the_app(tmp_path: Path, unused_port: int) -> None:
    """``hmb serve --migrate`` (run here via its module) serves /healthz on the chosen port."""
    port = unused_port
    env = {**os.environ, "HMB_DATABASE_URL": f"sqlite:///{tmp_path / 's.db'}", "HMB_VAR_DIR": str(tmp_path)}
    cmd = [sys.executable, "-m", "huiminbao.cli.serve", "--port", str(port), "--migrate"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"server did not start:\n{proc.stdout.read() if proc.stdout else ''}")
                time.sleep(0.2)
        assert r.status_code == 200 and r.json()["schema_revision"] == "0010"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_every_response_carries_the_security_headers(client: TestClient) -> None:
    for path in ("/", "/estimate", "/docs", "/api/v1/plans", "/no-such-page"):
        headers = client.get(path).headers
        assert "script-src 'self'" in headers["content-security-policy"], path
        assert "frame-ancestors 'none'" in headers["content-security-policy"], path
        assert headers["x-content-type-options"] == "nosniff", path
        assert headers["referrer-policy"] == "same-origin", path


@pytest.mark.slow
def test_pages_work_under_the_strict_csp(live_server: str, page: Any) -> None:
    """No page needs an inline script or style: Chromium reports no violation, and /docs renders."""
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    for path in ("/", "/plans/liaocheng-2025", "/estimate"):
        page.goto(live_server + path)
        page.wait_for_load_state("networkidle")
    page.goto(live_server + "/docs")
    page.wait_for_selector(".swagger-ui .opblock", timeout=15_000)
    assert page.locator(".opblock").count() >= 4
    assert problems == []


@pytest.mark.parametrize(
    ("role", "menu"),
    [
        ("admin", {"方案", "试算", "投保", "医院结算", "理赔申请", "理赔审核", "客服", "监管", "精算", "管理"}),
        ("resident", {"方案", "试算", "投保", "我的结算", "理赔申请", "客服"}),
        ("hospital", {"方案", "试算", "医院结算"}),
        ("supervisor", {"方案", "试算", "监管"}),
        ("actuary", {"方案", "试算", "精算"}),
        ("adjuster", {"方案", "试算", "理赔审核", "客服"}),
        ("finance", {"方案", "试算", "理赔支付", "监管"}),
    ],
)
def test_each_role_sees_its_own_menu(client: TestClient, sign_in: Any, role: str, menu: set[str]) -> None:
    sign_in(role)
    html = client.get("/").text
    nav = html[html.index('aria-label="主导航"') : html.index("</nav>")]
    shown = set(re.findall(r">([^<>\s]+)</(?:a|span)>", nav))
    assert shown == menu


def test_sign_in_out_and_change_password_on_the_web(client: TestClient, sign_in: Any) -> None:
    sign_in("clerk")
    assert "clerk-1（柜面）" in client.get("/").text
    page = client.get("/account/password")
    assert page.status_code == 200 and "修改密码" in page.text
    form = {
        "current": "correct horse 42",
        "new": "a new one 12345",
        "again": "a new one 12345",
        "csrf_token": csrf(client),
    }
    old_cookie = client.cookies["hmb_session"]
    done = client.post("/account/password", data=form)
    assert done.status_code == 200 and "密码已修改" in done.text
    client.cookies.clear()
    client.cookies.set("hmb_session", old_cookie)  # a session from before the change no longer works
    assert client.get("/account/password", follow_redirects=False).status_code == 303
    client.cookies.clear()
    wrong = client.post(
        "/login", data={"username": "clerk-1", "password": "correct horse 42", "csrf_token": csrf(client)}
    )
    assert wrong.status_code == 401 and "用户名或密码不正确" in wrong.text
    right = {"username": "clerk-1", "password": "a new one 12345", "csrf_token": csrf(client), "next": "//evil.example"}
    back = client.post("/login", data=right, follow_redirects=False)
    assert back.status_code == 303 and back.headers["location"] == "/"  # never to another site
    out = client.post("/logout", data={"csrf_token": csrf(client)}, follow_redirects=False)
    assert out.status_code == 303 and "hmb_session" not in client.cookies
    assert client.post("/logout", data={}).status_code == 403  # no CSRF token, no sign-out
    weak = sign_in("finance")
    assert weak
    bad = client.post(
        "/account/password",
        data={**form, "current": "correct horse 42", "new": "short", "again": "short", "csrf_token": csrf(client)},
    )
    assert bad.status_code == 422 and "至少 10 个字符" in bad.text
