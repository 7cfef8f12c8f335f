"""Catalog uploads: checked field by field (or row by row) in Chinese, tried on every plan that names the
catalog, written beside the operator's plans and audited only when all of that passes; the admin page,
its CLI counterpart and a real browser."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from huiminbao.admin.catalogs import CatalogRejected, accept, check_upload, in_force
from huiminbao.cli.main import app as cli
from huiminbao.db import Database
from huiminbao.identity import audit
from huiminbao.identity.models import AuditEntry
from huiminbao.plans import compiled_plan
from huiminbao.plans.loader import CATALOG_DIR
from tests.conftest import PASSWORD, SCREENSHOTS, browser_sign_in, csrf

DRUGS = "liaocheng-specific-drugs"
SHIPPED = (CATALOG_DIR / f"{DRUGS}.yaml").read_text(encoding="utf-8")


@pytest.fixture
def plans_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "plans"
    monkeypatch.setenv("HMB_PLANS_DIR", str(folder))
    return folder


def problems(name: str, data: bytes) -> list[tuple[str, str, str]]:
    with pytest.raises(CatalogRejected) as caught:
        check_upload(name, data)
    return caught.value.problems


def catalog_yaml(**head: Any) -> bytes:
    data = {"id": "demo-drugs", "name": "示例药品目录", "kind": "drug", "status": "official", **head}
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False).encode("utf-8")


def test_every_problem_of_a_catalog_file_is_named_by_field_in_chinese() -> None:
    bad = catalog_yaml(
        kind="drugs",
        status=None,
        colour="red",
        entries=[{"code": "XA001"}, {"code": "XA001", "name": "重复"}, {"name": "无编码"}, {"code": 12}],
    )
    assert problems("demo.yaml", bad) == [
        ("demo.yaml", "colour", "未知字段（可用字段：id、name、kind、status、status_note、cite、entries）"),
        (
            "demo.yaml",
            "kind",
            "未知目录类型“drugs”，应为 drug（药品）、institution（医药机构）、icd10（疾病（ICD-10））",
        ),
        ("demo.yaml", "status", "缺少此字段"),
        ("demo.yaml", "entries[2].code", "缺少此字段"),
        ("demo.yaml", "entries[3].code", "应为文字（数字或日期请加引号）"),
    ]
    icd = catalog_yaml(
        kind="icd10",
        entries=[{"code": "C00-C97"}, {"code": "c00-c97"}, {"code": "C34.9-C35"}, {"code": "XLCTD0001"}],
    )
    assert problems("icd.yaml", icd) == [
        ("icd.yaml", "entries[1].code", "“c00-c97”与 entries[0] 重复"),
        ("icd.yaml", "entries[2].code", "范围“C34.9-C35”两端的位数应相同"),
        (
            "icd.yaml",
            "entries[3].code",
            "“XLCTD0001”不合规：ICD-10 编码应为一个字母加两位数字（如 E11、C34.9），或两端位数相同的范围（如 C00-C97）",
        ),
    ]
    assert problems("x.yaml", catalog_yaml(entries=[])) == [
        ("x.yaml", "entries", "缺少条目：应为至少一条 {code, name} 的列表")
    ]
    assert problems("x.yaml", b"id: [")[0][:2] == ("x.yaml", "")
    assert problems("x.txt", b"") == [("x.txt", "", "应为不超过 5 MB 的 .yaml、.csv 或 .xlsx 目录文件")]


def test_a_catalog_that_would_break_a_plan_is_refused_naming_the_plan() -> None:
    as_icd = SHIPPED.replace("kind: drug", "kind: icd10")
    entries = yaml.safe_load(as_icd)
    entries["entries"] = [{"code": "C00-C97"}]
    found = problems(f"{DRUGS}.yaml", yaml.safe_dump(entries, allow_unicode=True).encode())
    assert {f for f, _, _ in found} == {"liaocheng-2022.yaml", "liaocheng-2024.yaml", "liaocheng-2025.yaml"}
    field, message = next((fld, m) for f, fld, m in found if f == "liaocheng-2024.yaml")
    assert field.startswith("tiers[0].liabilities[") and field.endswith(".lines")
    assert message.startswith("方案 liaocheng-2024 使用此目录后不能通过检查：目录 specific_drugs 是疾病（ICD-10）目录")


def test_a_spreadsheet_replaces_the_entries_of_the_catalog_its_file_is_named_after() -> None:
    sheet = "编码,名称\nXLCTD0001,奥希替尼片\n\nXLCTD0001,重复\n奥希替尼,中文编码\n,缺编码\n".encode()
    assert problems(f"{DRUGS}.csv", sheet) == [
        (f"{DRUGS}.csv", "第4行 code 列", "“XLCTD0001”与 第2行 重复"),
        (f"{DRUGS}.csv", "第5行 code 列", "“奥希替尼”不合规：药品编码（med_list_codg）应为 1 至 50 位字母或数字"),
        (f"{DRUGS}.csv", "第6行 code 列", "缺少此字段"),
    ]
    assert problems("new-list.csv", b"code\nA1\n")[0][2].startswith("没有编号为 new-list 的目录")
    assert problems(f"{DRUGS}.csv", "药品,名称\nA1,x\n".encode())[0][1:] == (
        "第1行",
        "缺少编码列：表头应有 code 或 编码 或 代码",
    )

    import xlsxwriter

    book_bytes = io.BytesIO()
    book = xlsxwriter.Workbook(book_bytes)
    sheet_ = book.add_worksheet()
    for r, row in enumerate([("code", "name"), ("XA01ABD075A002010100483", "某药"), ("XLCTD0002", None)]):
        for c, value in enumerate(row):
            if value is not None:
                sheet_.write_string(r, c, value)
    book.close()
    checked = check_upload(f"{DRUGS}.xlsx", book_bytes.getvalue())
    written = yaml.safe_load(checked.content)
    assert written["id"] == DRUGS and written["kind"] == "drug" and written["status"] == "illustrative"
    assert written["entries"] == [{"code": "XA01ABD075A002010100483", "name": "某药"}, {"code": "XLCTD0002"}]
    assert checked.plans == ("liaocheng-2022", "liaocheng-2024", "liaocheng-2025") and checked.replaces is not None


def test_an_accepted_catalog_is_written_audited_and_used_by_its_plans(app_settings: Any, plans_dir: Path) -> None:
    before = compiled_plan("liaocheng-2024").catalogs.codes["specific_drugs"]
    assert "XNEW0001" not in before
    checked = check_upload(f"{DRUGS}.csv", b"code,name\nXLCTD0001,a\nXNEW0001,b\n")
    db = Database.from_url(app_settings.database_url)
    with db.session() as s:
        path = accept(session=s, actor=audit.CLI, checked=checked, folder=plans_dir)
    assert path == plans_dir / "catalogs" / f"{DRUGS}.yaml" and not list(path.parent.glob("*.part"))
    # every process sees the new catalog: compiled plans are keyed on the operator's catalog files
    assert compiled_plan("liaocheng-2024").catalogs.codes["specific_drugs"] == ("XLCTD0001", "XNEW0001")
    assert compiled_plan("quzhou-2021").catalogs.codes["special_drugs"][0] == "XQZTY0001"  # others untouched
    listed = next(c for c in in_force() if c.file == f"{DRUGS}.yaml")
    assert not listed.packaged and listed.catalog is not None and len(listed.catalog.entries) == 2
    with db.session() as s:
        entry = s.scalars(sa.select(AuditEntry).where(AuditEntry.action == "catalog.upload")).one()
        after, prior = json.loads(entry.after or ""), json.loads(entry.before or "")
    db.dispose()
    assert entry.entity_id == DRUGS and after["sha256"] == listed.sha256 and after["entries"] == 2
    assert after["plans"] == ["liaocheng-2022", "liaocheng-2024", "liaocheng-2025"]
    assert prior["file"].endswith(f"plans/catalogs/{DRUGS}.yaml") and prior["sha256"] != after["sha256"]


def upload(client: TestClient, name: str, data: bytes, token: str | None, accept: bool = False) -> Any:
    form = {**({"csrf_token": token} if token else {}), **({"accept": "1"} if accept else {})}
    return client.post("/admin/catalogs", data=form, files={"file": (name, data, "application/octet-stream")})


def test_the_admin_page_checks_then_accepts_a_catalog(client: TestClient, sign_in: Any, plans_dir: Path) -> None:
    sign_in("admin")
    token = csrf(client)
    page = client.get("/admin/catalogs")
    assert (
        page.status_code == 200 and "liaocheng-county-level-institutions" in page.text and "liaocheng-2024" in page.text
    )
    bad = SHIPPED.replace("XLCTD0002", "XLCTD0001").replace("kind: drug", "kind: drugz").encode()
    refused = upload(client, f"{DRUGS}.yaml", bad, token, accept=True)
    assert refused.status_code == 422 and "未知目录类型“drugz”" in refused.text and "<code>kind</code>" in refused.text
    assert not plans_dir.exists()  # nothing written
    good = SHIPPED.replace("XLCTD0025", "XLCTD0026").encode()
    checked = upload(client, f"{DRUGS}.yaml", good, token)
    assert checked.status_code == 200 and f"检查通过：目录 {DRUGS}" in checked.text and "均通过" in checked.text
    assert not plans_dir.exists()
    assert upload(client, f"{DRUGS}.yaml", good, None, accept=True).status_code == 403  # no CSRF token
    assert not plans_dir.exists()
    accepted = upload(client, f"{DRUGS}.yaml", good, token, accept=True)
    assert f"目录 {DRUGS} 已启用（25 条）" in accepted.text and "运营方上传" in accepted.text
    assert (plans_dir / "catalogs" / f"{DRUGS}.yaml").read_bytes() == good
    assert "catalog.upload" in client.get("/admin/audit").text


def test_without_an_operator_folder_a_catalog_is_checked_but_not_accepted(
    client: TestClient, sign_in: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HMB_PLANS_DIR", raising=False)
    sign_in("admin")
    res = upload(client, f"{DRUGS}.yaml", SHIPPED.encode(), csrf(client), accept=True)
    assert res.status_code == 422 and "未配置运营方方案文件夹" in res.text


@pytest.mark.parametrize("role", ["resident", "hospital", "supervisor", "actuary", "finance"])
def test_only_administrators_see_or_upload_catalogs(
    client: TestClient, sign_in: Any, role: str, plans_dir: Path
) -> None:
    sign_in(role)
    assert client.get("/admin/catalogs").status_code == 403
    assert upload(client, f"{DRUGS}.yaml", SHIPPED.encode(), csrf(client), accept=True).status_code == 403
    assert not plans_dir.exists()


def test_hmb_catalog_check_and_list(tmp_path: Path) -> None:
    runner = CliRunner()
    sheet = tmp_path / f"{DRUGS}.csv"
    sheet.write_text("code,name\nXLCTD0001,a\n我,b\n", encoding="utf-8")
    bad = runner.invoke(cli, ["catalog", "check", str(sheet)])
    assert bad.exit_code == 1 and f"{DRUGS}.csv: 第3行 code 列: “我”不合规" in bad.output
    good = runner.invoke(cli, ["catalog", "check", "--json", str(CATALOG_DIR / "zibo-specific-drugs.yaml")])
    assert good.exit_code == 0
    assert json.loads(good.stdout)["files"][0] | {"file": ""} == {
        "file": "",
        "ok": True,
        "catalog": "zibo-specific-drugs",
        "kind": "drug",
        "entries": 8,
        "plans": ["zibo-2022"],
        "problems": [],
    }
    listed = json.loads(runner.invoke(cli, ["catalog", "list", "--json"]).stdout)
    assert {r["id"] for r in listed} >= {DRUGS, "icd10-malignant-neoplasms"}


@pytest.mark.slow
def test_an_administrator_uploads_a_catalog_in_the_browser(
    live_server: str, page: Any, app_settings: Any, plans_dir: Path, tmp_path: Path
) -> None:
    from huiminbao.identity.models import Role
    from huiminbao.identity.service import create_user

    db = Database.from_url(app_settings.database_url)
    with db.session() as s:
        create_user(session=s, actor=audit.CLI, username="root", role=Role.ADMIN, password=PASSWORD)
    db.dispose()
    browser_sign_in(page, live_server, "root")
    page.goto(live_server + "/admin/catalogs")
    assert page.locator("h1").inner_text() == "管理"
    bad = tmp_path / f"{DRUGS}.csv"
    bad.write_text("code,name\nXLCTD0001,奥希替尼片\nXLCTD0001,重复\n", encoding="utf-8")
    page.set_input_files("input[name=file]", str(bad))
    page.get_by_label("检查通过后启用").check()
    page.get_by_role("button", name="检查").click()
    page.wait_for_load_state()
    assert "“XLCTD0001”与 第2行 重复" in page.locator("table.problems").inner_text()
    assert not plans_dir.exists()
    good = tmp_path / "good" / f"{DRUGS}.csv"
    good.parent.mkdir()
    good.write_text("code,name\nXLCTD0001,奥希替尼片\nXA01ABD075A002010100483,某药\n", encoding="utf-8")
    page.set_input_files("input[name=file]", str(good))
    page.get_by_label("检查通过后启用").check()
    page.get_by_role("button", name="检查").click()
    page.wait_for_load_state()
    assert f"目录 {DRUGS} 已启用（2 条）" in page.get_by_role("status").inner_text()
    row = page.locator("#catalogs tr", has_text=DRUGS).inner_text()
    assert "运营方上传" in row and "\t2\t" in row and "liaocheng-2024" in row
    page.screenshot(path=str(SCREENSHOTS / "admin-catalogs.png"), full_page=True)
