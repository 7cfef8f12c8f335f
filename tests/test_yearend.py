"""Year-end re-adjudication: stays that arrived out of order are paid again in setl_time order by the
batch engine; the adjustments make what was paid equal what it pays, to the fen, once."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from huiminbao.cli.main import app as cli
from huiminbao.enrollment.models import Channel, Relation
from huiminbao.enrollment.purchase import Member, buy
from huiminbao.enrollment.roster_store import Keys, import_roster
from huiminbao.identity import audit
from huiminbao.identity.certno import make_certno
from huiminbao.identity.service import add_hospital
from huiminbao.plans import compiled_plan
from huiminbao.settings import get_settings
from huiminbao.settlement.models import Adjustment, SettlementLine
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
