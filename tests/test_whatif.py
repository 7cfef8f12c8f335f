"""What-if pricing (issue 11): a candidate plan priced on a past year beside the base plan, exact to the fen,
through the pure comparison, ``hmb whatif``, ``POST /api/v1/whatif`` and the page."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import sqlalchemy as sa
import yaml
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from huiminbao.cli.main import app as cli
from huiminbao.db import Database, migrate
from huiminbao.enrollment.bulk import enroll_share
from huiminbao.enrollment.roster_store import Keys, import_roster
from huiminbao.flows.settle_file import settle_file
from huiminbao.identity import audit
from huiminbao.identity.models import Role
from huiminbao.identity.service import create_user
from huiminbao.money import to_fen, to_yuan
from huiminbao.plans import PlanError, compiled_plan
from huiminbao.plans.loader import DATA_DIR
from huiminbao.scale.partition import Inputs
from huiminbao.scale.years import read_year, year_parts
from huiminbao.settings import Settings, sqlite_url
from huiminbao.settlement.io import read_fee_lines, read_insured, read_settlements
from huiminbao.settlement.models import Settlement
from huiminbao.supervision.whatif import WhatIfError, Year, compare, load_candidate, target_bp
from huiminbao.supervision.whatif_store import stored_year
from huiminbao.synth import generate_city, write_city
from tests.conftest import PASSWORD, SCREENSHOTS, browser_sign_in, csrf
from tests.records import SD, drug, stay, write_csv

BASE = "liaocheng-2024"
runner = CliRunner()


def base_doc() -> dict[str, Any]:
    return yaml.safe_load((DATA_DIR / f"{BASE}.yaml").read_text(encoding="utf-8"))


def candidate(tmp_path: Path, change: Any = None, name: str = "candidate.yaml") -> Path:
    """Next year's draft: liaocheng-2024 re-dated to 2025, changed by ``change(doc)``."""
    doc = base_doc()
    doc.update(id="liaocheng-2025-draft", year=2025, cover={"start": "2025-01-01", "end": "2025-12-31"})
    if change:
        change(doc)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def liability(doc: dict[str, Any], lid: str) -> dict[str, Any]:
    """A liability of the plan's first tier (or of the tier given)."""
    tier = doc["tiers"][0] if "tiers" in doc else doc
    return next(x for x in tier["liabilities"] if x["id"] == lid)


def lower_deductible(doc: dict[str, Any]) -> None:
    liability(doc, "inpatient_inscope")["deductible"] = 15000


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    """A tiny hand-made year: P1 owes 40,000 in scope after funds, P2 20,000, P3 a specific drug of 30,000
    out of pocket at a county hospital, P4 nothing; four insured at 89 yuan."""
    stays = [
        stay("S1", psn_no="P1", inscp=100_000, funds=60_000),
        stay("S2", psn_no="P2", inscp=30_000, funds=10_000),
        stay("S3", psn_no="P3", ownpay=30_000),
    ]
    lines = [{"setl_id": "S3", **drug(SD, ownpay=30_000)}]
    people = [{"psn_no": p, "insutype": "390"} for p in ("P1", "P2", "P3", "P4")]
    return {
        "settlements": write_csv(tmp_path / "s.csv", stays),
        "fee_lines": write_csv(tmp_path / "l.csv", lines),
        "insured": write_csv(tmp_path / "p.csv", people),
    }


def year(files: dict[str, Path]) -> Year:
    return Year(
        settlements=read_settlements(files["settlements"]),
        fee_lines=read_fee_lines(files["fee_lines"]),
        insured=read_insured(files["insured"]),
    )


def test_a_lower_deductible_pays_more_to_the_fen(tmp_path: Path, files: dict[str, Path]) -> None:
    # base: P1 (40,000 - 16,000) x 80% = 19,200; P2 (20,000 - 16,000) x 80% = 3,200;
    #       P3 specific drug (30,000 - 16,000) x 80% = 11,200; total 33,600
    # candidate deductible 15,000 in scope: P1 20,000, P2 4,000; P3 unchanged; total 35,200
    got = compare(compiled_plan(BASE), load_candidate(candidate(tmp_path, lower_deductible)), year(files))
    b, c = got.base, got.candidate
    assert b.payout == {"inpatient_inscope": 2_240_000, "specific_drugs": 1_120_000}
    assert c.payout == {"inpatient_inscope": 2_400_000, "specific_drugs": 1_120_000}
    assert (b.paid["inpatient_inscope"], c.paid["inpatient_inscope"]) == (2, 2)
    assert (b.total, c.total, b.persons_paid, c.persons_paid) == (3_360_000, 3_520_000, 3, 3)
    assert b.deciles[-1] == 1_920_000 and b.deciles[0] == 320_000 and len(b.deciles) == 10
    assert got.premium_income == 4 * 8_900 and got.persons == 4 and got.target == 8_000
    # loss ratio 33,600 / 356 = 9438.2022..% -> 943,820 bp; premium for 80%: 33,600 / 0.8 / 4 = 10,500
    assert (b.loss_ratio, b.premium_for_target) == (943_820, 1_050_000)
    # 35,200 / 0.8 / 4 = 11,000
    assert c.premium_for_target == 1_100_000
    doc = got.to_json()
    assert doc["change"]["payout"] == "1600.00" and doc["change"]["liabilities"]["specific_drugs"]["payout"] == "0.00"
    assert doc["base"]["loss_ratio"] == "9438.2%" and doc["target_loss_ratio"] == "80%"
    assert any("2025-01-01" in n and "2024-01-01" in n for n in got.notes)  # re-dated, and said so


def test_a_candidate_identical_to_the_base_changes_nothing(tmp_path: Path, files: dict[str, Path]) -> None:
    got = compare(compiled_plan(BASE), load_candidate(DATA_DIR / f"{BASE}.yaml"), year(files))
    assert got.base.payout == got.candidate.payout and got.base.deciles == got.candidate.deciles
    change = got.to_json()["change"]
    assert change["payout"] == "0.00" and change["persons_paid"] == 0 and change["loss_ratio"] == "0%"
    assert all(v == {"payout": "0.00", "persons": 0} for v in change["liabilities"].values())
    assert got.notes == ()


def test_a_new_liability_appears_with_zero_on_the_base(tmp_path: Path, files: dict[str, Path]) -> None:
    def outpatient(doc: dict[str, Any]) -> None:
        doc["tiers"][0]["liabilities"].append(
            {
                "id": "outpatient_special",
                "name": "门诊慢特病自付费用",
                "when": "med_type == '14'",
                "base": "max(inscp_scp_amt - fund_pay_sumamt, 0)",
                "deductible": 5000,
                "ratio": "50%",
                "limit": 100000,
            }
        )
        doc["tiers"][0]["precedence"].append("outpatient_special")

    rows = [
        stay("S1", psn_no="P1", inscp=100_000, funds=60_000),
        stay("S4", psn_no="P4", med_type="14", inscp=25_000, funds=5_000),
    ]
    files["settlements"] = write_csv(tmp_path / "s2.csv", rows)
    got = compare(compiled_plan(BASE), load_candidate(candidate(tmp_path, outpatient)), year(files))
    assert got.liabilities[-1] == ("outpatient_special", "门诊慢特病自付费用")
    assert "outpatient_special" not in got.base.payout
    assert got.candidate.payout["outpatient_special"] == 750_000  # (20,000 - 5,000) x 50%
    doc = got.to_json()
    assert doc["base"]["liabilities"]["outpatient_special"] == {"payout": "0.00", "persons": 0}
    assert doc["change"]["liabilities"]["outpatient_special"] == {"payout": "7500.00", "persons": 1}


def test_the_premium_for_the_target_is_rounded_once_half_up(tmp_path: Path, files: dict[str, Path]) -> None:
    # 33,600 / 0.7 / 4 = 12,000 exactly; / 0.9 / 4 = 9,333.333.. -> 9,333.33; 3 persons at 0.8: 14,000
    plan, same = compiled_plan(BASE), load_candidate(DATA_DIR / f"{BASE}.yaml")
    assert compare(plan, same, year(files), target=target_bp("70%", plan)).base.premium_for_target == 1_200_000
    assert compare(plan, same, year(files), target=target_bp("0.9", plan)).base.premium_for_target == 933_333
    assert target_bp(None, plan) == 8_000 and target_bp("0.8", plan) == target_bp("80%", plan) == 8_000
    for bad in ("八成", "0", "-5%", "80.001%"):
        with pytest.raises(WhatIfError) as exc:
            target_bp(bad, plan)
        assert exc.value.field == "target_loss_ratio"


def test_a_bad_candidate_names_the_file_and_field(tmp_path: Path) -> None:
    path = candidate(tmp_path, lambda d: liability(d, "inpatient_inscope").update(ratio="八成"))
    with pytest.raises(PlanError) as exc:
        load_candidate(path)
    assert exc.value.file == str(path)
    assert any(p.startswith("tiers[0].liabilities[0].ratio") for p, _ in exc.value.problems)


def test_a_new_tier_priced_for_everyone(tmp_path: Path, files: dict[str, Path]) -> None:
    def plus(doc: dict[str, Any]) -> None:
        tier = json.loads(json.dumps(doc["tiers"][0]))
        tier.update(id="plus", name="升级版", premiums=[{"amount": 129}])
        liability(tier, "inpatient_inscope")["deductible"] = 10000
        doc["tiers"].append(tier)
        doc["default_tier"] = "standard"

    got = compare(compiled_plan(BASE), load_candidate(candidate(tmp_path, plus)), year(files), tier="plus")
    assert (got.base.tier, got.candidate.tier) == ("standard", "plus")
    assert (
        got.candidate.payout["inpatient_inscope"] == 2_400_000 + 800_000
    )  # (40,000 - 10,000) x 80% + (20,000 - 10,000) x 80%
    assert got.premium_income == 4 * 8_900  # today's premium: the base plan's
    assert any("standard" in n for n in got.notes)
    with pytest.raises(WhatIfError) as exc:
        compare(compiled_plan(BASE), load_candidate(candidate(tmp_path, plus)), year(files), tier="gold")
    assert exc.value.field == "tier"


def cli_args(tmp_path: Path, files: dict[str, Path], *extra: str) -> list[str]:
    args = ["whatif", "--base", BASE, "--candidate", str(candidate(tmp_path, lower_deductible))]
    for name, path in files.items():
        args += [f"--{name.replace('_', '-')}", str(path)]
    return [*args, *extra]


def test_cli_prints_the_side_by_side_table(tmp_path: Path, files: dict[str, Path]) -> None:
    res = runner.invoke(cli, cli_args(tmp_path, files), env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    assert "基本医疗保险范围内住院自付医疗费用" in res.output and "+1,600.00" in res.output
    assert "10,500.00" in res.output and "11,000.00" in res.output and "赔付率" in res.output


def test_cli_json_is_one_document_with_yuan_strings(tmp_path: Path, files: dict[str, Path]) -> None:
    res = runner.invoke(cli, cli_args(tmp_path, files, "--json", "--target-loss-ratio", "0.7"))
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["base"]["payout"] == "33600.00" and doc["candidate"]["payout"] == "35200.00"
    assert doc["base"]["premium_for_target"] == "12000.00" and doc["target_loss_ratio"] == "70%"
    assert doc["premium_per_person"] == "89.00" and doc["persons"] == 4


def test_cli_refuses_bad_input_naming_file_and_field(tmp_path: Path, files: dict[str, Path]) -> None:
    bad = candidate(tmp_path, lambda d: liability(d, "inpatient_inscope").pop("base"), "bad.yaml")
    args = cli_args(tmp_path, files)
    args[args.index("--candidate") + 1] = str(bad)
    res = runner.invoke(cli, args)
    assert res.exit_code == 2 and "bad.yaml" in res.output and "tiers[0].liabilities[0].base" in res.output
    res = runner.invoke(cli, cli_args(tmp_path, files, "--target-loss-ratio", "eighty"))
    assert res.exit_code == 2 and "target-loss-ratio" in res.output
    res = runner.invoke(cli, [*cli_args(tmp_path, files)[:2], "nowhere-2024", *cli_args(tmp_path, files)[3:]])
    assert res.exit_code == 2 and "nowhere-2024" in res.output


# --- a year too large for memory: part by part of persons (issue 12) -------------------------


def class_c(doc: dict[str, Any]) -> None:
    """A liability on fee lines the base plan never reads (class C items): the split must carry them."""
    doc["tiers"][0]["liabilities"].append(
        {
            "id": "class_c_items",
            "name": "丙类项目自费费用",
            "lines": "chrgitm_lv == '03'",
            "base": "fulamt_ownpay_amt",
            "deductible": 5000,
            "ratio": "50%",
            "limit": 100000,
        }
    )
    doc["tiers"][0]["precedence"].insert(0, "class_c_items")


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A small synthetic year with fee lines and one record in ten a refund, and a candidate that lowers
    the deductible and adds a fee-line liability."""
    out = tmp_path_factory.mktemp("whatif-city")
    write_city(generate_city(BASE, 3000, seed=7, records=15_000, refund_share=0.1), out, "parquet")
    return {
        "settlements": out / "settlements.parquet",
        "fee_lines": out / "fee_lines.parquet",
        "insured": out / "roster.parquet",
        "candidate": candidate(out, lambda d: (lower_deductible(d), class_c(d))),
    }


def city_args(city: dict[str, Path], *extra: str) -> list[str]:
    args = ["whatif", "--base", BASE]
    for name, path in city.items():
        args += [f"--{name.replace('_', '-')}", str(path)]
    return [*args, "--json", *extra]


def test_compare_over_parts_is_the_whole_year_to_the_fen(city: dict[str, Path], tmp_path: Path) -> None:
    base, cand = compiled_plan(BASE), load_candidate(city["candidate"])
    inputs = Inputs(city["settlements"], city["insured"], city["fee_lines"])
    whole = compare(base, cand, read_year([base, cand], inputs))
    parts = compare(base, cand, year_parts([base, cand], inputs, 3, scratch=tmp_path))
    assert parts == whole and list(tmp_path.iterdir()) == []
    assert whole.candidate.payout["class_c_items"] > 0  # the candidate's own fee lines reached every part
    assert whole.base.persons_paid > 20 and whole.candidate.total > whole.base.total
    assert whole.settlements == 15_000 and whole.persons == 3000


def test_hmb_whatif_in_parts_prints_the_same_json_as_in_memory(city: dict[str, Path]) -> None:
    whole = runner.invoke(cli, city_args(city))
    assert whole.exit_code == 0, whole.output
    assert to_fen(json.loads(whole.stdout)["candidate"]["liabilities"]["class_c_items"]["payout"]) > 0
    for extra in (["--partitions", "3"], ["--memory-limit", "8MB"]):
        parts = runner.invoke(cli, city_args(city, *extra))
        assert parts.exit_code == 0, parts.output
        assert json.loads(parts.stdout) == json.loads(whole.stdout)
        assert "分区" in parts.stderr  # the bar over parts, on stderr


def test_hmb_whatif_splits_on_its_own_when_the_year_would_not_fit(
    city: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = runner.invoke(cli, city_args(city))

    class Scarce:
        available = 2**20  # 1 MB free: the 15,000 records would need about 10 MB

    monkeypatch.setattr("huiminbao.scale.partition.psutil.virtual_memory", Scarce)
    parts = runner.invoke(cli, city_args(city))
    assert parts.exit_code == 0, parts.output
    assert "分区" in parts.stderr and json.loads(parts.stdout) == json.loads(whole.stdout)


def test_hmb_whatif_parts_may_hold_no_settlements(tmp_path: Path, files: dict[str, Path]) -> None:
    whole = runner.invoke(cli, cli_args(tmp_path, files, "--json"))
    parts = runner.invoke(cli, cli_args(tmp_path, files, "--json", "--partitions", "7"))  # 4 persons
    assert parts.exit_code == 0, parts.output
    assert json.loads(parts.stdout) == json.loads(whole.stdout)


def test_hmb_whatif_refuses_bad_partition_options(city: dict[str, Path]) -> None:
    for option, value, why in (
        ("--memory-limit", "lots", "不是内存大小"),
        ("--memory-limit", "0GB", "不是内存大小"),
        ("--partitions", "0", "分区数须在"),
    ):
        res = runner.invoke(cli, city_args(city, option, value))
        assert res.exit_code == 2 and f"{option}：" in res.output and why in res.output, res.output


# --- the platform's stored year: API and page ------------------------------------------------


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A small synthetic Liaocheng 2024 year settled through the one-stop path, with an actuary, an
    administrator and a resident."""
    out = tmp_path_factory.mktemp("whatif")
    write_city(generate_city(BASE, 300, seed=11, records=500), out, "parquet")
    url = sqlite_url(out / "hmb.db")
    migrate.upgrade(url)
    settings = Settings(var_dir=out / "var", database_url=url)
    db = Database.from_url(url)
    compiled = compiled_plan(BASE)
    day = compiled.plan.enrollment.window.end
    keys = Keys(encrypt=settings.pii_key_bytes, hash=settings.pii_hash_key_bytes)
    with db.session() as s:
        import_roster(session=s, path=out / "roster.parquet", keys=keys, actor=audit.CLI, today=day)
    with db.session() as s:
        enroll_share(session=s, actor=audit.CLI, compiled=compiled, share=1.0, day=day, seed=1)
        for name, role in (("act", Role.ACTUARY), ("root", Role.ADMIN)):
            create_user(session=s, actor=audit.CLI, username=name, role=role, password=PASSWORD)
        someone = pl.read_parquet(out / "roster.parquet")["psn_no"][0]
        create_user(session=s, actor=audit.CLI, username="res", role=Role.RESIDENT, password=PASSWORD, psn_no=someone)
    result = settle_file(db, out / "settlements.parquet", out / "fee_lines.parquet")
    assert result.payout_fen > 0, result.summary()
    yield {"settings": settings, "db": db, "paid": result.payout_fen}
    db.dispose()


@pytest.fixture
def app_settings(stored: dict[str, Any]) -> Settings:
    return stored["settings"]


def token(client: TestClient, username: str) -> dict[str, str]:
    got = client.post("/api/v1/auth/token", data={"username": username, "password": PASSWORD}).json()
    return {"Authorization": f"Bearer {got['access_token']}"}


def draft_text(change: Any = lower_deductible) -> str:
    doc = base_doc()
    doc.update(id="liaocheng-2025-draft", year=2025, cover={"start": "2025-01-01", "end": "2025-12-31"})
    change(doc)
    return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)


def test_the_api_prices_on_the_stored_year(client: TestClient, stored: dict[str, Any]) -> None:
    body = {"base": BASE, "candidate": draft_text(), "target_loss_ratio": "80%"}
    got = client.post("/api/v1/whatif", json=body, headers=token(client, "act"))
    assert got.status_code == 200, got.text
    doc = got.json()
    with stored["db"].session() as s:
        paid = s.scalar(sa.select(sa.func.sum(Settlement.payout_fen)).where(Settlement.plan_id == BASE))
    assert doc["base"]["payout"] == to_yuan(paid)  # the batch engine pays what one-stop paid
    assert to_fen(doc["change"]["payout"]) > 0 and doc["candidate"]["plan"] == "liaocheng-2025-draft"
    assert doc["persons"] > 0 and doc["premium_per_person"] == "89.00" and doc["notes"]
    with stored["db"].session() as s:
        first = stored_year(session=s, plan_id=BASE)
        assert stored_year(session=s, plan_id=BASE) is first  # kept between requests
    files = {"candidate": ("next.yaml", draft_text().encode(), "application/x-yaml")}
    multi = client.post("/api/v1/whatif", data={"base": BASE}, files=files, headers=token(client, "root"))
    assert multi.status_code == 200 and multi.json()["candidate"]["payout"] == doc["candidate"]["payout"]


def test_the_api_refuses_with_the_error_body(client: TestClient) -> None:
    act = token(client, "act")
    bad = draft_text(lambda d: liability(d, "inpatient_inscope").update(ratio="八成"))
    got = client.post("/api/v1/whatif", json={"base": BASE, "candidate": bad}, headers=act)
    assert got.status_code == 422 and got.json()["code"] == "invalid_candidate"
    assert (
        got.json()["field"].startswith("candidate.tiers[0].liabilities[0].ratio")
        and "candidate.yaml" in got.json()["message"]
    )
    got = client.post("/api/v1/whatif", json={"base": "nowhere-2024", "candidate": draft_text()}, headers=act)
    assert (got.status_code, got.json()["field"]) == (404, "base")
    got = client.post(
        "/api/v1/whatif", json={"base": BASE, "candidate": draft_text(), "target_loss_ratio": "x"}, headers=act
    )
    assert (got.status_code, got.json()["field"]) == (422, "target_loss_ratio")
    got = client.post("/api/v1/whatif", json={"base": "quzhou-2021", "candidate": draft_text()}, headers=act)
    assert (got.status_code, got.json()["code"]) == (422, "no_settlements")
    got = client.post("/api/v1/whatif", content=b"{", headers={**act, "Content-Type": "application/json"})
    assert (got.status_code, got.json()["code"]) == (422, "invalid_request")
    assert client.post("/api/v1/whatif", json={"base": BASE}, headers=act).json()["field"] == "candidate"
    assert client.post("/api/v1/whatif", json={}, headers=token(client, "res")).status_code == 403
    assert client.post("/api/v1/whatif", json={}).status_code == 401


def sign_in_page(client: TestClient, username: str) -> None:
    form = {"username": username, "password": PASSWORD, "csrf_token": csrf(client)}
    assert client.post("/login", data=form, follow_redirects=False).status_code == 303


def test_the_page_prices_a_pasted_candidate_for_an_actuary(client: TestClient) -> None:
    sign_in_page(client, "act")
    page = client.get("/supervision/whatif")
    assert page.status_code == 200 and "试算定价" in page.text and 'name="csrf_token"' in page.text
    assert client.get("/actuarial").text.count('href="/supervision/whatif"') >= 1
    form = {"csrf_token": csrf(client), "base": BASE, "candidate": draft_text(), "target_loss_ratio": "75%"}
    got = client.post("/supervision/whatif", data=form)
    assert got.status_code == 200, got.text
    assert 'id="whatif-table"' in got.text and "获赔人赔付分布" in got.text and "赔付率 75% 所需人均保费" in got.text
    form["candidate"] = "id: [unclosed"
    bad = client.post("/supervision/whatif", data=form)
    assert bad.status_code == 422 and "不是合法的 YAML" in bad.text


def test_the_page_is_not_for_residents(client: TestClient) -> None:
    sign_in_page(client, "res")
    assert client.get("/supervision/whatif", follow_redirects=False).status_code == 403


@pytest.mark.slow
def test_an_actuary_prices_a_candidate_in_the_browser(page: Any, live_server: str) -> None:
    browser_sign_in(page, live_server, "act")
    page.get_by_role("link", name="精算", exact=True).click()
    page.locator("#whatif-link").click()
    page.wait_for_load_state()
    page.locator("select[name=base]").select_option(BASE)
    page.locator("textarea[name=candidate]").fill(draft_text())
    page.locator("input[name=target_loss_ratio]").fill("85%")
    page.get_by_role("button", name="试算").click()
    page.wait_for_load_state()
    table = page.locator("#whatif-table").inner_text()
    assert "赔付合计" in table and "赔付率 85% 所需人均保费" in table and "个百分点" in table
    assert page.locator("#whatif-deciles tbody tr").count() == 10
    assert page.locator("textarea[name=candidate]").input_value().startswith("id: liaocheng-2025-draft")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "whatif.png"), full_page=True)
