"""Year-end re-adjudication: stays that arrived out of order are paid again in setl_time order by the
batch engine; the adjustments make what was paid equal what it pays, to the fen, once."""

from __future__ import annotations

import json
import sqlite3
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from huiminbao.cli.main import app as cli
from huiminbao.db.session import Database
from huiminbao.enrollment.models import Channel, InsuredPerson, Relation
from huiminbao.enrollment.purchase import Member, buy
from huiminbao.enrollment.roster_store import Keys, import_roster
from huiminbao.identity import audit
from huiminbao.identity.certno import make_certno
from huiminbao.identity.service import add_hospital
from huiminbao.plans import compiled_plan
from huiminbao.settings import get_settings, sqlite_url
from huiminbao.settlement.models import Accumulator, Adjustment, SettlementLine
from huiminbao.settlement.yearend import year_end
from tests.test_onestop import PLAN, post, refund_of

ZIBO, Z1, ZH = "zibo-2022", "37030000000000000001", "H37030200001"
HEADER = "psn_no,certno,psn_name,gend,brdy,insutype,insu_admdvs,psn_insu_stas,psn_insu_date,populations"


def stay(setl_id: str, med_type: str, day: str, own: str, inscp: str, fund: str, drug: bool) -> dict[str, Any]:
    """A stay of Z1 in Zibo: ``own`` fully self-paid, ``inscp`` in scope of which ``fund`` paid by the fund."""
    total = f"{float(own) + float(inscp):.2f}"
    part = f"{float(total) - float(fund):.2f}"
    info = {
        "setl_id": setl_id, "psn_no": Z1, "insutype": "390", "mdtrt_id": setl_id, "med_type": med_type,
        "begndate": day, "enddate": day, "setl_time": f"{day} 10:00:00", "medfee_sumamt": total,
        "fulamt_ownpay_amt": own, "overlmt_selfpay": "0.00", "preselfpay_amt": "0.00", "inscp_scp_amt": inscp,
        "act_pay_dedc": "0.00", "hifp_pay": fund, "fund_pay_sumamt": fund, "psn_part_amt": part, "acct_pay": "0.00",
        "psn_cash_pay": part, "fixmedins_code": ZH, "insu_admdvs": "370302", "mdtrt_area_admvs": "370302",
        "refd_setl_flag": "0",
    }  # fmt: skip
    lines = [
        {"feedetl_sn": "1", "med_list_codg": "XZBTD0001", "chrgitm_lv": "03", "med_chrgitm_type": "09",
         "det_item_fee_sumamt": own, "fulamt_ownpay_amt": own, "preselfpay_amt": "0.00", "inscp_scp_amt": "0.00",
         "overlmt_amt": "0.00"}
    ] if drug else []  # fmt: skip
    return {"setlinfo": info, "feedetl": lines, "diseases": ["C34.9"]}


@pytest.fixture
def zibo(client: TestClient, tmp_path: Path) -> str:
    """Z1 in Zibo's roster with a 淄博齐惠保 2022 policy (one deductible shared by its liabilities), and a
    Zibo hospital; returns the hospital's secret."""
    settings = client.app.state.settings
    keys = Keys(encrypt=settings.pii_key_bytes, hash=settings.pii_hash_key_bytes)
    row = f"{Z1},{make_certno('370302', date(1960, 5, 5), 1)},参保人,1,1960-05-05,390,370302,1,2010-01-01,"
    (tmp_path / "roster.csv").write_text(f"{HEADER}\n{row}\n", encoding="utf-8")
    with client.app.state.db.session() as s:
        import_roster(session=s, path=tmp_path / "roster.csv", keys=keys, actor=audit.CLI, today=date(2021, 12, 1))
        buy(
            session=s, actor=audit.CLI, compiled=compiled_plan(ZIBO), payer_psn_no=Z1,
            members=[Member(Z1, Relation.SELF)], channel=Channel.COUNTER, day=date(2021, 12, 1), paid=True,
        )  # fmt: skip
        return add_hospital(session=s, actor=audit.CLI, key=settings.pii_key_bytes, code=ZH, name="淄博市中心医院")


def paid_by_liability(client: TestClient) -> dict[str, int]:
    with client.app.state.db.session() as s:
        lines = s.execute(sa.select(SettlementLine.liability, SettlementLine.payout)).all()
        adjusted = s.execute(sa.select(Adjustment.liability, Adjustment.amount_fen)).all()
    out: dict[str, int] = {}
    for liability, fen in [*lines, *adjusted]:
        out[liability] = out.get(liability, 0) + fen
    return out


def test_a_late_stay_is_adjusted_to_the_batch_once(
    client: TestClient, zibo: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """July's stay arrives before March's: in real time July's used the shared deductible; in setl_time
    order March's drugs did. Year-end moves 14,000 yuan from one liability to the other, once."""
    late = stay("Z-MAR", "11", "2022-03-10", "30000.00", "0.00", "0.00", drug=True)
    first = stay("Z-JUL", "21", "2022-07-01", "0.00", "50000.00", "20000.00", drug=False)
    for body in (first, late):
        assert post(client, {ZH: zibo}, body, code=ZH).status_code == 200
    assert paid_by_liability(client) == {"selfpay": 700000, "specific_drugs": 2100000}
    with client.app.state.db.session() as s:
        result = year_end(session=s, actor=audit.CLI, plan_id=ZIBO)
    assert sorted((a["liability"], a["amount"]) for a in result.adjustments) == [
        ("selfpay", 1400000),
        ("specific_drugs", -1400000),
    ]
    assert paid_by_liability(client) == {"selfpay": 2100000, "specific_drugs": 700000}
    assert result.due_fen == result.paid_fen == 2800000
    monkeypatch.setenv("HMB_DATABASE_URL", client.app.state.settings.database_url)
    get_settings.cache_clear()
    try:
        again = CliRunner().invoke(cli, ["year-end", "--plan", ZIBO, "--json"])
    finally:
        get_settings.cache_clear()
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["adjustments"] == 0, "a second run writes nothing new"
    late_refund = refund_of(late, "Z-MAR-R")
    late_refund["setlinfo"]["setl_time"] = "2022-08-01 09:00:00"
    late_refund["feedetl"] = []
    back = post(client, {ZH: zibo}, late_refund, code=ZH)
    assert back.status_code == 200 and back.json()["payout"] == "-21000.00", "refunds what was paid in real time"


def test_a_plan_without_settlements_and_an_unknown_plan(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    with client.app.state.db.session() as s:
        assert year_end(session=s, actor=audit.CLI, plan_id=PLAN).summary()["adjustments"] == 0
    monkeypatch.setenv("HMB_DATABASE_URL", client.app.state.settings.database_url)
    get_settings.cache_clear()
    try:
        res = CliRunner().invoke(cli, ["year-end", "--plan", "nowhere-2024"])
    finally:
        get_settings.cache_clear()
    assert res.exit_code == 2 and "nowhere-2024" in res.output


# --- the partitioned path ------------------------------------------------------------------------

PERSONS = [f"3703000000000000{k:04d}" for k in range(1, 9)]


def of(body: dict[str, Any], psn_no: str, setl_id: str) -> dict[str, Any]:
    """``body`` (a stay of Z1) as another person's, under another setl_id."""
    out = json.loads(json.dumps(body))
    out["setlinfo"].update(psn_no=psn_no, setl_id=setl_id, mdtrt_id=setl_id)
    return out


@pytest.fixture
def city(client: TestClient, tmp_path: Path) -> Path:
    """Eight Zibo persons with a policy each and a year of stays: some arrived out of order, some
    refunded later, some in order. Returns a copy of the database as it stands before any year-end."""
    settings = client.app.state.settings
    keys = Keys(encrypt=settings.pii_key_bytes, hash=settings.pii_hash_key_bytes)
    rows = [
        f"{p},{make_certno('370302', date(1960, 5, 5), k + 1)},参保人,1,1960-05-05,390,370302,1,2010-01-01,"
        for k, p in enumerate(PERSONS)
    ]
    (tmp_path / "roster.csv").write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    with client.app.state.db.session() as s:
        import_roster(session=s, path=tmp_path / "roster.csv", keys=keys, actor=audit.CLI, today=date(2021, 12, 1))
        for p in PERSONS:
            buy(
                session=s, actor=audit.CLI, compiled=compiled_plan(ZIBO), payer_psn_no=p,
                members=[Member(p, Relation.SELF)], channel=Channel.COUNTER, day=date(2021, 12, 1), paid=True,
            )  # fmt: skip
        secret = add_hospital(session=s, actor=audit.CLI, key=settings.pii_key_bytes, code=ZH, name="淄博市中心医院")
    for k, p in enumerate(PERSONS):
        july = of(stay("J", "21", "2022-07-01", "0.00", f"{50000 - 3000 * k}.00", "20000.00", False), p, f"{p}-JUL")
        march = of(stay("M", "11", "2022-03-10", f"{30000 - 2000 * k}.00", "0.00", "0.00", True), p, f"{p}-MAR")
        bodies = [july, march] if k % 2 == 0 else [march, july]  # even: March's record arrives late
        if k % 3 == 0:
            refund = refund_of(march, f"{p}-MAR-R")
            refund["setlinfo"]["setl_time"] = "2022-08-01 09:00:00"
            refund["feedetl"] = []
            bodies.append(refund)
        for body in bodies:
            assert post(client, {ZH: secret}, body, code=ZH).status_code == 200
    copy = tmp_path / "copy.db"
    with sqlite3.connect(tmp_path / "app.db") as src, sqlite3.connect(copy) as dst:
        src.backup(dst)
    return copy


def written(db: Database) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Every adjustment (person, liability, paid, due, amount) and accumulator of the plan, sorted."""
    with db.session() as s:
        adjusted = s.execute(
            sa.select(
                InsuredPerson.psn_no,
                Adjustment.liability,
                Adjustment.paid_fen,
                Adjustment.due_fen,
                Adjustment.amount_fen,
            ).join(InsuredPerson, InsuredPerson.id == Adjustment.person_id)
        ).all()
        kept = s.execute(
            sa.select(Accumulator.psn_no, Accumulator.year, Accumulator.key, Accumulator.value).where(
                Accumulator.plan_id == ZIBO
            )
        ).all()
    return sorted(map(tuple, adjusted)), sorted(map(tuple, kept))


def test_partitioned_year_end_writes_what_the_in_memory_one_writes(client: TestClient, city: Path) -> None:
    """Three parts of persons (one of them possibly empty) give the in-memory run's adjustments and
    accumulators to the fen, the same summary and report; a second partitioned run writes nothing."""
    whole = client.app.state.db
    with whole.session() as s:
        in_memory = year_end(session=s, actor=audit.CLI, plan_id=ZIBO)
    parted_db = Database.from_url(sqlite_url(city))
    try:
        ticks: list[tuple[str, int, int]] = []
        with parted_db.session() as s:
            parted = year_end(session=s, actor=audit.CLI, plan_id=ZIBO, partitions=3, tick=lambda *t: ticks.append(t))
        assert in_memory.adjustments and {a["psn_no"] for a in in_memory.adjustments} < set(PERSONS)
        assert parted.summary() == in_memory.summary()
        assert parted.report_rows() == in_memory.report_rows()
        assert in_memory.persons == len(PERSONS) and in_memory.due_fen == in_memory.paid_fen + sum(
            a["amount"] for a in in_memory.adjustments
        )
        assert written(parted_db) == written(whole)
        assert ("写入调整与累计", 3, 3) in ticks
        before = written(parted_db)
        with parted_db.session() as s:
            again = year_end(session=s, actor=audit.CLI, plan_id=ZIBO, partitions=3)
        assert again.adjustments == [] and again.due_fen == again.paid_fen == in_memory.due_fen
        assert written(parted_db) == before
    finally:
        parted_db.dispose()


def test_year_end_cli_partitions_and_refuses_bad_options(
    client: TestClient, city: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HMB_DATABASE_URL", client.app.state.settings.database_url)
    get_settings.cache_clear()
    runner = CliRunner()
    try:
        for bad, option in ((["--partitions", "0"], "--partitions"), (["--memory-limit", "lots"], "--memory-limit")):
            res = runner.invoke(cli, ["year-end", "--plan", ZIBO, *bad])
            assert res.exit_code == 2 and option in res.output, res.output
        parted = runner.invoke(cli, ["year-end", "--plan", ZIBO, "--partitions", "3", "--json"])
        assert parted.exit_code == 0, parted.output
        assert json.loads(parted.stdout)["adjustments"] > 0
        limited = runner.invoke(cli, ["year-end", "--plan", ZIBO, "--memory-limit", "1GB", "--json"])
        assert limited.exit_code == 0 and json.loads(limited.stdout)["adjustments"] == 0, "idempotent"
    finally:
        get_settings.cache_clear()
    with client.app.state.db.session() as s:
        expected = year_end(session=s, actor=audit.CLI, plan_id=ZIBO)
    assert expected.adjustments == []
    copy = Database.from_url(sqlite_url(city))
    try:
        with copy.session() as s:
            year_end(session=s, actor=audit.CLI, plan_id=ZIBO)
        assert written(copy) == written(client.app.state.db), "the CLI's parts wrote what one part writes"
    finally:
        copy.dispose()
