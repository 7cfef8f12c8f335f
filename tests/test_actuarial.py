"""An actuary sees only de-identified data (issue 7): a settled synthetic Liaocheng 2024 year extracted as CSV,
JSON and Parquet names no one (the bytes hold no psn_no, ID number, name or settlement number that was used),
its person keys are the same in two extracts, every quasi-identifier cell holds 10 persons or is generalised,
and the payouts add up to the stored ones to the fen. Only actuaries and administrators get it, audited."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from huiminbao.actuarial.extract import QUASI, Extract, Format, build, encode, generalise, pseudonyms
from huiminbao.cli.main import app as cli
from huiminbao.db import Database, migrate
from huiminbao.enrollment.bulk import enroll_share
from huiminbao.enrollment.models import InsuredPerson
from huiminbao.enrollment.roster_store import Keys, import_roster
from huiminbao.enrollment.service import MIN_CELL
from huiminbao.flows.settle_file import settle_file
from huiminbao.identity import audit
from huiminbao.identity.models import AuditEntry, Role
from huiminbao.identity.service import add_hospital, create_user
from huiminbao.plans import compiled_plan, load_plan
from huiminbao.settings import Settings, get_settings, sqlite_url
from huiminbao.settlement.models import Settlement, SettlementLine
from huiminbao.synth import generate_city, write_city
from tests.conftest import PASSWORD, SCREENSHOTS, browser_sign_in, csrf

PLAN = "liaocheng-2024"
PERSONS, RECORDS = 600, 1000  # about 300 persons with settlements: cells both large and small
LEVELS = {"一级": 1, "二级": 2, "三级": 3}
MARCH = (date(2024, 3, 1), date(2024, 3, 31))


@pytest.fixture(scope="module")
def year(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A synthetic city's year settled through the one-stop path: the roster imported, everyone eligible
    insured, the city's hospitals registered with their levels (pharmacies not), the year's settlements
    settled from the file; plus the identities that were used, to look for in the extracts."""
    out = tmp_path_factory.mktemp("actuarial")
    city = generate_city(PLAN, PERSONS, seed=7, records=RECORDS)
    write_city(city, out, "parquet")
    url = sqlite_url(out / "hmb.db")
    migrate.upgrade(url)
    settings = Settings(var_dir=out / "var", database_url=url)
    keys = Keys(encrypt=settings.pii_key_bytes, hash=settings.pii_hash_key_bytes)
    db = Database.from_url(url)
    compiled = compiled_plan(PLAN)
    day = compiled.plan.enrollment.window.end
    with db.session() as s:
        import_roster(session=s, path=out / "roster.parquet", keys=keys, actor=audit.CLI, today=day)
    with db.session() as s:
        enroll_share(session=s, actor=audit.CLI, compiled=compiled, share=1.0, day=day, seed=1)
        hospitals = pl.read_csv(out / "institutions.csv", infer_schema=False).filter(pl.col("kind") == "hospital")
        for code, name, level in hospitals.select("fixmedins_code", "fixmedins_name", "hosp_lv").iter_rows():
            add_hospital(session=s, actor=audit.CLI, key=settings.pii_key_bytes, code=code, name=name,
                         level=LEVELS.get(level or ""))  # fmt: skip
        for name, role in (("act", Role.ACTUARY), ("root", Role.ADMIN), ("sup", Role.SUPERVISOR)):
            create_user(session=s, actor=audit.CLI, username=name, role=role, password=PASSWORD)
    result = settle_file(db, out / "settlements.parquet", out / "fee_lines.parquet")
    assert result.settled > RECORDS // 2 and result.payout_fen > 0, result.summary()
    with db.session() as s:
        setl = s.execute(sa.select(Settlement.setl_id, Settlement.record)).all()
    records = [json.loads(r)["setlinfo"] for _, r in setl]
    roster = pl.read_parquet(out / "roster.parquet")
    identities = {
        *roster["psn_no"], *roster["certno"], *roster["psn_name"],
        *(r["setl_id"] for r in records), *(r["mdtrt_id"] for r in records if r.get("mdtrt_id")),
    }  # fmt: skip
    yield {"dir": out, "db": db, "settings": settings, "identities": identities}
    db.dispose()


@pytest.fixture(scope="module")
def full(year: dict[str, Any]) -> Extract:
    with year["db"].session() as s:
        return build(session=s, plan=load_plan(PLAN), key=year["settings"].actuarial_key_bytes)


@pytest.fixture
def app_settings(year: dict[str, Any]) -> Settings:
    """The app (``client``, ``live_server``) on the settled year's database."""
    return year["settings"]


def token(client: TestClient, username: str) -> dict[str, str]:
    got = client.post("/api/v1/auth/token", data={"username": username, "password": PASSWORD}).json()
    return {"Authorization": f"Bearer {got['access_token']}"}


def contained(needles: set[str], data: bytes) -> set[str]:
    """The needles found anywhere in the data, even inside a longer token: every window of a needle's length
    of every token (the text between separators) looked up in the set."""
    lengths = {len(n) for n in needles}
    found = set()
    for token in set(re.split(r'[,"\n\r:{}\[\] ]+', data.decode("utf-8"))):
        for n in lengths:
            found |= {token[i : i + n] for i in range(len(token) - n + 1)} & needles
    return found


def cells(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.group_by(QUASI).agg(pl.col("person_key").n_unique().alias("persons"))


def test_no_identity_that_was_used_is_in_any_extract(full: Extract, year: dict[str, Any]) -> None:
    for fmt in Format:
        for lines in (False, True):
            data = encode(full, fmt, lines=lines)
            if fmt is Format.PARQUET:  # compressed bytes prove nothing: read it back as text
                data = pl.read_parquet(io.BytesIO(data)).cast(pl.Utf8).write_csv().encode("utf-8")
            found = contained(year["identities"], data)
            assert found == set(), (fmt, lines, sorted(found)[:3])
    forbidden = {"psn_no", "certno", "psn_name", "setl_id", "mdtrt_id", "birth_date", "brdy", "insu_admdvs"}
    assert forbidden.isdisjoint(full.settlements.columns) and forbidden.isdisjoint(full.lines.columns)
    areas = full.settlements["insu_area"].drop_nulls()
    assert areas.len() > 0 and areas.str.ends_with("00").all(), "insurance areas cut to the city"
    assert full.settlements["age_band"].drop_nulls().str.contains(r"^\d+(-\d+|\+)$").all()
    levels = full.settlements.select("hospital_level", "hospital_code")
    assert levels.filter(pl.col("hospital_level").is_not_null() & pl.col("hospital_code").is_not_null()).is_empty()
    assert levels["hospital_level"].drop_nulls().len() > 0 and levels["hospital_code"].drop_nulls().len() > 0


def test_person_keys_are_stable_across_extracts_and_differ_between_plans(full: Extract, year: dict[str, Any]) -> None:
    key = year["settings"].actuarial_key_bytes
    with year["db"].session() as s:
        again = build(session=s, plan=load_plan(PLAN), key=key)
        march = build(session=s, plan=load_plan(PLAN), key=key, start=MARCH[0], end=MARCH[1])
        psn_nos = s.scalars(sa.select(InsuredPerson.psn_no).join(Settlement)).all()
    assert again.settlements.equals(full.settlements) and again.lines.equals(full.lines)
    pairs = full.settlements.select("claim_key", "person_key")
    assert march.settlements.select("claim_key", "person_key").join(pairs, on="claim_key").filter(
        pl.col("person_key") != pl.col("person_key_right")
    ).is_empty()  # fmt: skip
    mine = pseudonyms(psn_nos, key=key, kind="person", plan_id=PLAN)
    assert set(full.settlements["person_key"]) == set(mine.values())
    other = pseudonyms(psn_nos, key=key, kind="person", plan_id="liaocheng-2025")
    assert set(mine.values()).isdisjoint(other.values()), "another plan-year, other keys"
    per_person = full.settlements.group_by("person_key").len()
    assert full.persons == len(set(psn_nos)) and per_person["len"].max() > 1, "claims per person can be counted"


def test_every_quasi_identifier_cell_holds_k_persons_or_is_generalised(full: Extract, year: dict[str, Any]) -> None:
    with year["db"].session() as s:
        march = build(session=s, plan=load_plan(PLAN), key=year["settings"].actuarial_key_bytes, start=MARCH[0],
                      end=MARCH[1])  # fmt: skip
    for found in (full, march):
        small = cells(found.settlements).filter(pl.col("persons") < MIN_CELL)
        assert small.filter(pl.any_horizontal(pl.col(c).is_not_null() for c in QUASI)).is_empty()
        small_lines = cells(found.lines).filter(pl.col("persons") < MIN_CELL)
        assert small_lines.filter(pl.any_horizontal(pl.col(c).is_not_null() for c in QUASI)).is_empty()
    full_cells = cells(full.settlements)
    assert full_cells.filter(pl.col("insu_area").is_not_null()).height > 0, "large cells keep their detail"
    assert full_cells.filter(pl.col("insu_area").is_null()).height > 0, "small ones were generalised"
    finer = march.settlements.join(full.settlements, on="claim_key", suffix="_year")
    assert finer.filter(pl.col("insu_area").is_not_null() & pl.col("insu_area_year").is_null()).is_empty(), (
        "a range never shows a row finer than the year"
    )


def test_generalisation_takes_only_the_small_cells_step_by_step() -> None:
    rows = [(f"a{i}", 42, "1", "371502", "310") for i in range(MIN_CELL)]  # one full cell
    rows += [(f"b{i}", 47, "1", "371502", "310") for i in range(3)]  # 3 persons at 45-49: area dropped, band 40-59
    rows += [(f"c{i}", 41, "1", "371503", "310") for i in range(MIN_CELL - 3)]  # 7 more at 40-44 in another county
    frame = pl.DataFrame(rows, schema=["person_key", "_age", "_sex", "_area", "_insutype"], orient="row")
    out = generalise(frame.with_columns(pl.lit(0).alias("_level")))
    shown = {(r["person_key"][0], r["age_band"], r["sex"], r["insu_area"]) for r in out.iter_rows(named=True)}
    assert shown == {("a", "40-44", "1", "371500"), ("c", "40-44", "1", "371500"), ("b", None, None, None)}, (
        "the county is cut to the city, so a and c share one cell of 17; b's 3 stay too few at every step"
    )
    assert generalise(out).equals(out), "a generalised frame is never made finer"


def test_payouts_add_up_to_the_stored_ones_to_the_fen(full: Extract, year: dict[str, Any]) -> None:
    with year["db"].session() as s:
        stored = s.scalar(sa.select(sa.func.sum(Settlement.payout_fen)))
        count = s.scalar(sa.select(sa.func.count()).select_from(Settlement))
        lines = s.scalar(sa.select(sa.func.count()).select_from(SettlementLine))
    rows = full.settlements
    assert (rows.height, full.lines.height) == (count, lines)
    assert stored > 0 and rows["payout"].sum() == stored == full.lines["payout"].sum()
    per_liability = rows.select(pl.sum_horizontal(pl.col(f"payout_{x}") for x in full.liabilities))
    assert (per_liability.to_series() == rows["payout"]).all()
    parquet = pl.read_parquet(io.BytesIO(encode(full, Format.PARQUET)))
    assert parquet["payout_fen"].dtype == pl.Int64 and parquet["payout_fen"].sum() == stored
    assert "payout" not in parquet.columns and parquet["medfee_sumamt_fen"].sum() == rows["medfee_sumamt"].sum()
    csv = pl.read_csv(io.BytesIO(encode(full, Format.CSV)), infer_schema=False)
    assert csv["payout"].str.contains(r"^-?\d+\.\d{2}$").all()
    yuan = csv["payout"].str.replace(".", "", literal=True).cast(pl.Int64)
    assert yuan.sum() == stored
    doc = json.loads(encode(full, Format.JSON, lines=True))
    assert doc["rows"] == lines and doc["k"] == MIN_CELL
    assert sum(int(r["payout"].replace(".", "")) for r in doc["lines"]) == stored


def test_the_api_gives_actuaries_the_extract_audited_and_refuses_others(
    client: TestClient, year: dict[str, Any]
) -> None:
    url = f"/api/v1/actuarial/settlements?plan={PLAN}&start=2024-03-01&end=2024-03-31&format=parquet"
    got = client.get(url, headers=token(client, "act"))
    assert got.status_code == 200 and got.headers["content-type"] == "application/vnd.apache.parquet"
    assert f'filename="{PLAN}-settlements-2024-03-01-2024-03-31.parquet"' in got.headers["content-disposition"]
    rows = pl.read_parquet(io.BytesIO(got.content))
    assert rows.height == int(got.headers["x-hmb-rows"]) > 0
    assert rows["setl_date"].min() >= MARCH[0] and rows["setl_date"].max() <= MARCH[1]
    with year["db"].session() as s:
        entry = s.scalars(sa.select(AuditEntry).where(AuditEntry.action == "actuarial.extract")).all()[-1]
    assert (entry.actor, entry.role, entry.entity_id) == ("act", "actuary", PLAN)
    assert json.loads(entry.after or "{}")["rows"] == rows.height
    lines = client.get(
        f"/api/v1/actuarial/settlements?plan={PLAN}&lines=true&format=json", headers=token(client, "root")
    )
    assert lines.status_code == 200 and "lines" in lines.json()
    assert client.get(f"/api/v1/actuarial/settlements?plan={PLAN}", headers=token(client, "sup")).status_code == 403
    assert client.get(f"/api/v1/actuarial/settlements?plan={PLAN}").status_code == 401
    bad = client.get(
        f"/api/v1/actuarial/settlements?plan={PLAN}&start=2024-04-01&end=2024-03-01", headers=token(client, "act")
    )
    assert (bad.status_code, bad.json()["code"], bad.json()["field"]) == (422, "bad_range", "start")
    assert (
        client.get("/api/v1/actuarial/settlements?plan=nowhere-2024", headers=token(client, "act")).status_code == 404
    )
    fmt = client.get(f"/api/v1/actuarial/settlements?plan={PLAN}&format=xlsx", headers=token(client, "act"))
    assert fmt.status_code == 422 and fmt.json()["field"] == "format"


def test_the_page_counts_and_links_the_files(client: TestClient) -> None:
    form = {"username": "act", "password": PASSWORD, "csrf_token": csrf(client)}
    assert client.post("/login", data=form, follow_redirects=False).status_code == 303
    page = client.get(f"/actuarial?plan={PLAN}&start=2024-03-01&end=2024-03-31")
    assert page.status_code == 200 and 'href="/actuarial"' in page.text and "下载 Parquet" in page.text
    assert "2024-03-01" in page.text and "不足 10 人" in page.text
    assert "日期格式应为" in client.get("/actuarial?start=3月1日").text
    got = client.get(f"/actuarial/extract?plan={PLAN}&start=2024-03-01&end=2024-03-31&format=csv&lines=1")
    assert got.status_code == 200 and got.headers["content-type"].startswith("text/csv")
    assert got.text.splitlines()[0].startswith("person_key,claim_key,kind,tier,age_band")


def test_the_cli_writes_the_file_it_is_named(year: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HMB_DATABASE_URL", year["settings"].database_url)
    monkeypatch.setenv("HMB_VAR_DIR", str(year["dir"] / "var"))
    get_settings.cache_clear()
    out = year["dir"] / "march.parquet"
    try:
        done = CliRunner().invoke(
            cli, ["actuarial", "extract", "--plan", PLAN, "--out", str(out), "--start", "2024-03-01",
                  "--end", "2024-03-31", "--json"],
        )  # fmt: skip
        bad = CliRunner().invoke(cli, ["actuarial", "extract", "--plan", PLAN, "--out", "x.xlsx"])
    finally:
        get_settings.cache_clear()
    assert done.exit_code == 0, done.output
    summary = json.loads(done.output)
    assert summary["rows"] == pl.read_parquet(out).height > 0 and summary["plan"] == PLAN
    assert bad.exit_code == 2 and ".parquet" in bad.output


@pytest.mark.slow
def test_an_actuary_downloads_a_months_extract(page: Any, live_server: str, tmp_path: Path) -> None:
    browser_sign_in(page, live_server, "act")
    page.get_by_role("link", name="精算", exact=True).click()
    assert page.get_by_label("方案").input_value() == PLAN, "the newest plan with settlements first"
    page.get_by_label("方案").select_option(PLAN)
    page.get_by_label("结算日期自").fill("2024-03-01")
    page.get_by_label("至", exact=True).fill("2024-03-31")
    page.get_by_role("button", name="查看").click()
    page.wait_for_load_state()
    persons = page.locator("#count-persons").inner_text()
    assert persons.endswith(" 人") and int(persons.split()[0]) > 0
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "actuarial.png"), full_page=True)
    with page.expect_download() as info:
        page.get_by_role("link", name="下载 CSV", exact=True).click()
    saved = tmp_path / info.value.suggested_filename
    info.value.save_as(saved)
    assert saved.name == f"{PLAN}-settlements-2024-03-01-2024-03-31.csv"
    rows = pl.read_csv(saved, infer_schema=False)
    settlements = page.locator("#count-settlements").inner_text()
    assert rows.height == int(settlements.split()[0]) and "person_key" in rows.columns
