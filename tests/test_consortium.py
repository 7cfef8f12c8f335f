"""Plans say which insurers underwrite them (共保体), and an insurer's adjusters and finance see only those
plans: their settlements, year-end, the day's one-stop volume, enrollment figures and charity funds.

The plans' consortia are illustrative: Liaocheng's (every year) is DEMO-A (lead), DEMO-B and DEMO-C;
Quzhou 2021's DEMO-D (lead) and DEMO-E; Zibo 2022's eleven insurers include DEMO-A and DEMO-D. P1 holds a
Liaocheng 2024 policy and had one stay settled on 2024-07-01.
"""

from __future__ import annotations

import copy
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from fastapi.testclient import TestClient

from huiminbao.access.scope import visible_plans
from huiminbao.db import Database
from huiminbao.enrollment.roster_store import Keys
from huiminbao.identity import audit
from huiminbao.identity.models import AuditEntry, Role, User
from huiminbao.plans import PlanError, list_plans, load_plan_file, underwritten_by
from huiminbao.plans.loader import DATA_DIR
from huiminbao.settlement.models import Adjustment
from huiminbao.settlement.onestop import settle
from tests.conftest import csrf
from tests.test_onestop import HOSPITAL, PLAN, prepare, record

SETL_ID = "371500202406200002"
PATH = f"/api/v1/settlements/{SETL_ID}"
LIAOCHENG = {"liaocheng-2022", "liaocheng-2024", "liaocheng-2025"}
GOOD = yaml.safe_load((DATA_DIR / f"{PLAN}.yaml").read_text(encoding="utf-8"))


# --- the plan files ------------------------------------------------------------------


def problems(tmp_path: Path, change: Any) -> list[tuple[str, str]]:
    """The loader's problems with the Liaocheng 2024 file once ``change`` has edited its data."""
    data = copy.deepcopy(GOOD)
    change(data)
    path = tmp_path / "edited.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(PlanError) as caught:
        load_plan_file(path)
    assert caught.value.file == str(path) and str(path) in str(caught.value)
    return caught.value.problems


def members(data: dict) -> list[dict]:
    return data["consortium"]["members"]


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        (lambda d: d.pop("consortium"), "consortium", "缺少此字段"),
        (lambda d: members(d)[2].update(share="20%"), "consortium.members", "之和应为 100%，现为 95%"),
        (lambda d: members(d)[2].update(insurer_code="DEMO-A"), "consortium.members[2].insurer_code", "members[0]"),
        (lambda d: members(d)[0].pop("lead"), "consortium.members", "应有且只有一家主承保机构"),
        (lambda d: members(d)[1].update(lead=True), "consortium.members[1].lead", "members[0] 已是主承保机构"),
        (lambda d: members(d)[0].update(share="140%"), "consortium.members[0].share", "应为 0 至 100% 的比例"),
        (
            lambda d: members(d)[1].update(insurer_code="示例 乙"),
            "consortium.members[1].insurer_code",
            "只含字母、数字、- 和 _",
        ),
        (lambda d: members(d)[1].pop("name"), "consortium.members[1].name", "缺少此字段"),
        (lambda d: d["consortium"].update(members=[]), "consortium.members", "至少应有 1 项"),
        (lambda d: d["consortium"].pop("note"), "consortium", "需要 note"),
    ],
)
def test_a_bad_consortium_is_refused_naming_the_file_and_field(
    tmp_path: Path, change: Any, field: str, words: str
) -> None:
    found = problems(tmp_path, change)
    assert any(where == field and words in msg for where, msg in found), found


def test_every_shipped_plan_declares_its_consortium_as_illustrative() -> None:
    plans = list_plans()
    assert {p.id for p in plans} >= LIAOCHENG | {"quzhou-2021", "zibo-2022"}
    for p in plans:
        c = p.consortium
        assert c.lead is not None and sum(m.share for m in c.members) == 10_000, p.id
        assert c.status is not None and c.status.value == "illustrative" and c.cite and c.note, p.id
        assert any("共保体" in n and "示意" in n for n in p.notes), p.id
    assert underwritten_by("DEMO-A") == LIAOCHENG | {"zibo-2022"}
    assert underwritten_by("DEMO-D") == {"quzhou-2021", "zibo-2022"}
    assert underwritten_by(None) == underwritten_by("NOBODY") == frozenset()


def test_the_plan_shows_its_consortium(client: TestClient) -> None:
    shown = client.get(f"/api/v1/plans/{PLAN}").json()["consortium"]
    assert shown["members"][0] == {
        "insurer_code": "DEMO-A", "name": "示例甲财产保险股份有限公司", "share": "40%", "lead": True
    }  # fmt: skip
    page = client.get(f"/plans/{PLAN}").text
    assert "共保体" in page and "主承保机构" in page and "示例乙人寿保险股份有限公司" in page and "35%" in page


# --- who sees what -------------------------------------------------------------------


@pytest.fixture
def app_settings(app_settings: Any, tmp_path: Path) -> Any:
    """P1's Liaocheng 2024 policy and one of P1's stays settled at the first hospital on 2024-07-01."""
    app_settings.today = date(2024, 7, 1)
    db = Database.from_url(app_settings.database_url)
    keys = Keys(encrypt=app_settings.pii_key_bytes, hash=app_settings.pii_hash_key_bytes)
    try:
        prepare(db, tmp_path, keys, app_settings.pii_key_bytes)
        with db.session() as s:
            body = record(1, setl_id=SETL_ID, setl_time="2024-07-01 08:30:00")
            settle(session=s, actor=audit.CLI, hospital_code=HOSPITAL, body=body)
    finally:
        db.dispose()
    return app_settings


def test_the_rule_binds_adjusters_and_finance_only() -> None:
    def user(role: Role, code: str | None = None) -> User:
        return User(username="u", role=role, insurer_code=code)

    assert visible_plans(user(Role.ADJUSTER, "DEMO-B")) == LIAOCHENG | {"zibo-2022"}
    assert visible_plans(user(Role.FINANCE, "DEMO-E")) == {"quzhou-2021", "zibo-2022"}
    assert visible_plans(user(Role.FINANCE)) == frozenset()  # no insurer: no plan
    for role in (Role.ADMIN, Role.SUPERVISOR, Role.ACTUARY, Role.CLERK, Role.HOSPITAL):
        assert visible_plans(user(role, "DEMO-E")) is None
    assert visible_plans(HOSPITAL) is None  # a hospital's signed system: bound by its own rule


def test_an_adjuster_reads_its_consortiums_settlement_and_is_refused_anothers(client: TestClient, sign_in: Any) -> None:
    mine = client.get(PATH, headers=sign_in("adjuster", insurer_code="DEMO-B"))
    assert mine.status_code == 200 and mine.json()["plan"] == PLAN
    for role, code in (("adjuster", "DEMO-D"), ("finance", "DEMO-E")):
        theirs = client.get(PATH, headers=sign_in(role, insurer_code=code))
        assert theirs.status_code == 403, (role, code)
        assert theirs.json() == {
            "code": "not_own_consortium",
            "message": "只能查看本机构参与共保的方案",
            "field": "setl_id",
        }
    assert client.get(PATH, headers=sign_in("finance", insurer_code="DEMO-A")).status_code == 200
    assert client.get(PATH, headers=sign_in("admin")).json() == mine.json()
    missing = client.get("/api/v1/settlements/none", headers=sign_in("adjuster", insurer_code="DEMO-D"))
    assert missing.status_code == 404


def adjustments(client: TestClient) -> int:
    with client.app.state.db.session() as s:
        return s.scalar(sa.select(sa.func.count()).select_from(Adjustment)) or 0


def year_end_runs(client: TestClient) -> int:
    with client.app.state.db.session() as s:
        return s.scalar(sa.select(sa.func.count()).where(AuditEntry.action == "settlement.year_end")) or 0


def test_finance_runs_year_end_for_its_consortiums_plans_only(client: TestClient, sign_in: Any) -> None:
    sign_in("finance", insurer_code="DEMO-D")  # Quzhou and Zibo
    page = client.get("/admin/year-end")
    assert page.status_code == 200
    assert "quzhou-2021" in page.text and "zibo-2022" in page.text and PLAN not in page.text
    refused = client.get(f"/admin/year-end?plan={PLAN}")
    assert refused.status_code == 403 and "只能查看本机构参与共保的方案" in refused.text
    run = client.post("/admin/year-end", data={"csrf_token": csrf(client), "plan": PLAN}, follow_redirects=False)
    assert run.status_code == 403 and "只能查看本机构参与共保的方案" in run.text
    assert year_end_runs(client) == 0 and adjustments(client) == 0
    sign_in("finance", insurer_code="DEMO-C")  # Liaocheng
    ran = client.post("/admin/year-end", data={"csrf_token": csrf(client), "plan": PLAN}, follow_redirects=False)
    assert ran.status_code == 303 and year_end_runs(client) == 1
    assert PLAN in client.get(ran.headers["location"]).text
    sign_in("finance", insurer_code="NOBODY")
    none = client.get("/admin/year-end")
    assert none.status_code == 403 and "未参与任何方案的共保" in none.text
    sign_in("admin")
    assert client.get(f"/admin/year-end?plan={PLAN}").status_code == 200


def test_the_days_volume_counts_the_readers_plans_only(client: TestClient, sign_in: Any) -> None:
    sign_in("finance", insurer_code="DEMO-E")
    page = client.get("/supervision/onestop?day=2024-07-01")
    assert page.status_code == 200 and "聊城市人民医院" not in page.text
    sign_in("finance", insurer_code="DEMO-A")
    assert "聊城市人民医院" in client.get("/supervision/onestop?day=2024-07-01").text
    sign_in("supervisor")
    assert "聊城市人民医院" in client.get("/supervision/onestop?day=2024-07-01").text


def test_enrollment_figures_and_charity_funds_follow_the_consortium(client: TestClient, sign_in: Any) -> None:
    outside = sign_in("finance", insurer_code="DEMO-E")
    assert client.get(f"/supervision/enrollment?plan={PLAN}").status_code == 403
    assert client.get("/supervision/enrollment").status_code == 200  # the first of its own plans
    api = client.get(f"/api/v1/supervision/enrollment?plan={PLAN}", headers=outside)
    assert (api.status_code, api.json()["code"], api.json()["field"]) == (403, "not_own_consortium", "plan")
    assert client.get("/api/v1/supervision/enrollment?plan=quzhou-2021", headers=outside).status_code == 200
    assert client.get(f"/api/v1/supervision/enrollment?plan={PLAN}", headers=sign_in("supervisor")).status_code == 200
    fund = {"name": "某慈善基金会", "plan": PLAN, "amount": "100.00"}
    assert client.post("/api/v1/charity/funds", json=fund, headers=outside).status_code == 403
    made = client.post("/api/v1/charity/funds", json=fund, headers=sign_in("finance", insurer_code="DEMO-B"))
    assert made.status_code == 201
    path = f"/api/v1/charity/funds/{made.json()['id']}"
    assert client.get(path, headers=outside).json()["code"] == "not_own_consortium"
    assert client.get(path, headers=sign_in("admin")).status_code == 200
