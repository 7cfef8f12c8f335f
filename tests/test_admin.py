"""Administration pages: users and roles, hospitals and their secrets, the audit log; only for admins."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import PASSWORD, browser_sign_in, csrf


def test_an_admin_creates_users_registers_hospitals_and_reads_the_audit(client: TestClient, sign_in: Any) -> None:
    sign_in("admin")
    token = csrf(client)
    made = client.post(
        "/admin/users",
        data={"username": "wang", "role": "adjuster", "link": "PICC", "password": PASSWORD, "csrf_token": token},
    )
    assert made.status_code == 200 and "已创建用户 wang（理赔）" in made.text
    weak = client.post(
        "/admin/users", data={"username": "li", "role": "admin", "password": "short", "csrf_token": token}
    )
    assert weak.status_code == 422 and "密码至少 10 个字符" in weak.text and ">li<" not in weak.text
    unlinked = client.post(
        "/admin/users", data={"username": "zhao", "role": "resident", "password": PASSWORD, "csrf_token": token}
    )
    assert unlinked.status_code == 422 and "psn_no" in unlinked.text

    added = client.post(
        "/admin/hospitals", data={"code": "H37150200001", "name": "聊城市人民医院", "level": "3", "csrf_token": token}
    )
    secret = re.search(r'<code class="secret">([0-9a-f]{64})</code>', added.text)
    assert added.status_code == 200 and secret is not None
    listed = client.get("/admin/hospitals").text
    assert "聊城市人民医院" in listed and secret.group(1) not in listed  # shown once, never again
    again = client.post("/admin/hospitals", data={"code": "H37150200001", "name": "重复", "csrf_token": token})
    assert again.status_code == 422 and "已登记" in again.text
    rotated = client.post("/admin/hospitals/H37150200001/rotate", data={"csrf_token": token})
    new = re.search(r'<code class="secret">([0-9a-f]{64})</code>', rotated.text)
    assert new is not None and new.group(1) != secret.group(1) and "旧密钥 24 小时内仍有效" in rotated.text

    audit = client.get("/admin/audit", params={"actor": "admin-1"}).text
    assert "哈希链完整" in audit and "hospital.rotate_secret" in audit and "user.create" in audit
    by_entity = client.get("/admin/audit", params={"entity": "H37150200001"}).text
    assert "hospital.add" in by_entity and "user.create" not in by_entity
    assert "日期格式" in client.get("/admin/audit", params={"since": "yesterday"}).text


@pytest.mark.parametrize("role", ["resident", "hospital", "supervisor", "actuary"])
def test_others_may_not_administer(client: TestClient, sign_in: Any, role: str) -> None:
    sign_in(role)
    for path in ("/admin/users", "/admin/hospitals", "/admin/audit"):
        assert client.get(path).status_code == 403
    form = {"username": "x", "role": "admin", "password": PASSWORD, "csrf_token": csrf(client)}
    assert client.post("/admin/users", data=form).status_code == 403


def test_without_a_session_the_admin_pages_ask_for_sign_in(client: TestClient) -> None:
    res = client.get("/admin/users", follow_redirects=False)
    assert res.status_code == 303 and res.headers["location"] == "/login?next=/admin/users"


@pytest.mark.slow
def test_roles_sign_in_and_see_their_own_menu_in_the_browser(live_server: str, page: Any, app_settings: Any) -> None:
    from huiminbao.db.session import Database
    from huiminbao.identity import audit
    from huiminbao.identity.models import Role
    from huiminbao.identity.service import create_user

    db = Database.from_url(app_settings.database_url)
    with db.session() as s:
        for role in (Role.ADMIN, Role.SUPERVISOR, Role.RESIDENT):
            links = {"psn_no": "P1"} if role is Role.RESIDENT else {}
            create_user(session=s, actor=audit.CLI, username=f"u-{role.value}", role=role, password=PASSWORD, **links)
    db.dispose()
    menus = {
        "admin": {"方案", "试算", "投保", "医院结算", "理赔申请", "理赔审核", "客服", "监管", "精算", "管理"},
        "supervisor": {"方案", "试算", "监管"},
        "resident": {"方案", "试算", "投保", "我的结算", "理赔申请", "客服"},
    }
    for role, menu in menus.items():
        page.goto(live_server + "/admin/users")
        assert "/login" in page.url
        page.get_by_label("用户名").fill(f"u-{role}")
        page.get_by_label("密码").fill(PASSWORD)
        page.get_by_role("button", name="登录").click()
        page.wait_for_load_state()
        assert set(page.locator("nav.site-nav").inner_text().split()) == menu
        if role == "admin":
            assert page.locator("h1").inner_text() == "管理"
            page.screenshot(path="var/screenshots/admin-users.png", full_page=True)
        page.get_by_role("button", name="退出").click()
        page.wait_for_load_state()


def test_a_plan_file_is_checked_by_field_before_it_is_accepted(
    client: TestClient, sign_in: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from huiminbao.plans.loader import DATA_DIR

    monkeypatch.setenv("HMB_PLANS_DIR", str(tmp_path / "plans"))
    sign_in("admin")
    good = (
        (DATA_DIR / "liaocheng-2024.yaml")
        .read_text(encoding="utf-8")
        .replace("id: liaocheng-2024", "id: liaocheng-2026")
    )
    bad = good.replace("ratio: 80%", "ratio: 180%", 1).replace("deductible: 10000", "deductible: lots")
    token = csrf(client)

    def upload(text: str, accept: bool = False) -> Any:
        files = {"file": ("liaocheng-2026.yaml", text.encode("utf-8"), "application/x-yaml")}
        return client.post(
            "/admin/plans", data={"csrf_token": token, **({"accept": "1"} if accept else {})}, files=files
        )

    refused = upload(bad, accept=True)
    assert refused.status_code == 422
    assert "tiers[0].liabilities[0].ratio" in refused.text and "tiers[0].liabilities[3].deductible" in refused.text
    assert "应为 0 至 100% 的比例" in refused.text and "实际为 “lots”" in refused.text  # in Chinese (issue 7)
    assert not (tmp_path / "plans").exists()  # nothing written
    checked = upload(good)
    assert checked.status_code == 200 and "检查通过：方案 liaocheng-2026" in checked.text
    assert not (tmp_path / "plans").exists()
    accepted = upload(good, accept=True)
    assert "方案 liaocheng-2026 已启用" in accepted.text and (tmp_path / "plans" / "liaocheng-2026.yaml").exists()
    assert "plan.upload" in client.get("/admin/audit").text


@pytest.mark.slow
def test_an_administrator_sees_a_broken_plan_explained_by_file_and_field_in_the_browser(
    live_server: str, page: Any, app_settings: Any, tmp_path: Any
) -> None:
    from huiminbao.db.session import Database
    from huiminbao.identity import audit
    from huiminbao.identity.models import Role
    from huiminbao.identity.service import create_user
    from huiminbao.plans.loader import DATA_DIR

    db = Database.from_url(app_settings.database_url)
    with db.session() as s:
        create_user(session=s, actor=audit.CLI, username="root", role=Role.ADMIN, password=PASSWORD)
    db.dispose()
    browser_sign_in(page, live_server, "root")
    page.goto(live_server + "/admin/plans")
    text = (DATA_DIR / "liaocheng-2024.yaml").read_text(encoding="utf-8")
    bad = tmp_path / "liaocheng-2026.yaml"
    bad.write_text(
        text.replace("ratio: 80%", "ratio: 180%", 1).replace("\nyear: 2024", "\nyear: twenty"), encoding="utf-8"
    )
    page.set_input_files("input[name=file]", str(bad))
    page.get_by_role("button", name="检查").click()
    page.wait_for_load_state()
    rows = page.locator("table.problems tbody tr").all_inner_texts()
    assert "liaocheng-2026.yaml\tyear\t应为整数，实际为 “twenty”" in rows, rows
    ratio = next(r for r in rows if "\ttiers[0].liabilities[0].ratio" in r)
    assert ratio.startswith("liaocheng-2026.yaml\t") and "应为 0 至 100% 的比例" in ratio
    page.screenshot(path="var/screenshots/admin-plan-problems.png", full_page=True)
