"""Small builders for settlement, fee-line and person rows (amounts in yuan, as the platform sends)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import polars as pl

from huiminbao.money import to_fen
from huiminbao.vocabulary import COST_PARTS, FEE_LINE_SCHEMA, SETTLEMENT_AMOUNTS, SETTLEMENT_SCHEMA

INSURED = {
    "psn_no": pl.Utf8,
    "insutype": pl.Utf8,
    "birth_date": pl.Date,
    "tier": pl.Utf8,
    "preexisting": pl.List(pl.Utf8),
    "populations": pl.List(pl.Utf8),
    "insu_status": pl.Utf8,
    "insu_status_date": pl.Date,
}


def setl(
    setl_id: str,
    day: int = 1,
    *,
    psn_no: str = "P1",
    month: int = 3,
    med_type: str = "21",
    inscp: float = 0,
    funds: float = 0,
    preself: float = 0,
    ownpay: float = 0,
    overlmt: float = 0,
    hifmi: float = 0,
    fixmedins: str = "H37150200001",
    insu: str = "371502",
    care: str | None = None,
    filed: bool = False,
    year: int = 2024,
    refund_of: str | None = None,
    hour: int = 12,
    diseases: list[str] | None = None,
    ci_scope: float | None = None,
    rx: str | None = None,
) -> dict[str, Any]:
    """One settlement in fen; ``funds`` is what the pooled fund paid (hifp_pay), ``hifmi`` critical illness,
    ``ci_scope`` the critical-illness policy-scope amount, ``rx`` the prescribing institution."""
    row: dict[str, Any] = dict.fromkeys(SETTLEMENT_AMOUNTS, 0)
    row.update(
        inscp_scp_amt=to_fen(inscp),
        preselfpay_amt=to_fen(preself),
        fulamt_ownpay_amt=to_fen(ownpay),
        overlmt_selfpay=to_fen(overlmt),
        hifp_pay=to_fen(funds),
        hifmi_pay=to_fen(hifmi),
    )
    row["medfee_sumamt"] = sum(row[p] for p in COST_PARTS)
    row["fund_pay_sumamt"] = row["hifp_pay"] + row["hifmi_pay"]
    row["psn_part_amt"] = row["psn_cash_pay"] = row["medfee_sumamt"] - row["fund_pay_sumamt"]
    row.update(
        setl_id=setl_id,
        mdtrt_id=setl_id,
        psn_no=psn_no,
        insutype="390",
        med_type=med_type,
        fixmedins_code=fixmedins,
        insu_admdvs=insu,
        mdtrt_area_admvs=care or insu,
        refd_setl_flag="0",
        init_setl_id=None,
        begndate=date(year, month, day),
        enddate=date(year, month, day),
        setl_time=datetime(year, month, day, hour),
        out_area_filed=filed,
        diseases=diseases or [],
        hifmi_inscp_scp_amt=None if ci_scope is None else to_fen(ci_scope),
        rx_fixmedins_code=rx,
    )
    if refund_of:
        row.update({k: -row[k] for k in SETTLEMENT_AMOUNTS}, refd_setl_flag="1", init_setl_id=refund_of)
    return row


def refund(original: dict[str, Any], setl_id: str, day: int, month: int | None = None) -> dict[str, Any]:
    row = dict(original)
    row.update(
        {k: -original[k] for k in SETTLEMENT_AMOUNTS},
        setl_id=setl_id,
        refd_setl_flag="1",
        init_setl_id=original["setl_id"],
        setl_time=datetime(original["setl_time"].year, month or original["setl_time"].month, day, 18),
    )
    return row


def line(
    setl_id: str,
    code: str,
    *,
    ownpay: float = 0,
    preself: float = 0,
    inscp: float = 0,
    overlmt: float = 0,
    lv: str = "03",
    kind: str = "09",
    sn: str = "1",
) -> dict[str, Any]:
    row = {
        "setl_id": setl_id,
        "feedetl_sn": sn,
        "med_list_codg": code,
        "chrgitm_lv": lv,
        "med_chrgitm_type": kind,
        "fulamt_ownpay_amt": to_fen(ownpay),
        "preselfpay_amt": to_fen(preself),
        "inscp_scp_amt": to_fen(inscp),
        "overlmt_amt": to_fen(overlmt),
    }
    row["det_item_fee_sumamt"] = (
        row["fulamt_ownpay_amt"] + row["preselfpay_amt"] + row["inscp_scp_amt"] + row["overlmt_amt"]
    )
    return row


def person(
    psn_no: str = "P1",
    *,
    preexisting: list[str] | None = None,
    populations: list[str] | None = None,
    tier: str | None = None,
    birth: date = date(1960, 5, 1),
) -> dict[str, Any]:
    return {
        "psn_no": psn_no,
        "insutype": "390",
        "birth_date": birth,
        "tier": tier,
        "preexisting": preexisting or [],
        "populations": populations or [],
    }


def frames(rows: list[dict[str, Any]], people: list[dict[str, Any]], lines: list[dict[str, Any]] | None = None):
    s = pl.DataFrame(rows, schema=SETTLEMENT_SCHEMA)
    p = pl.DataFrame(people, schema=INSURED)
    fl = pl.DataFrame(lines, schema=FEE_LINE_SCHEMA) if lines else None
    return s, p, fl
