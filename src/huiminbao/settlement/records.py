"""Settlement records at the edge: from the national platform's yuan to checked int-fen frames.

Hospitals and the bureau send ``setlinfo`` with ``feedetl`` lines, amounts in yuan with two
decimals. Everything is checked before the engine sees it: required fields, amounts that
are numbers with at most two decimals, the platform's identities (the cost parts add up
to the total, the funds to the fund total, the person's part to account plus cash), and
signs (a refund carries negated amounts). An error names the record and the field, and
nothing is half-read: a file is accepted whole or refused.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any

import polars as pl

from huiminbao.identity.certno import CertNoError, validate_certno
from huiminbao.money import MAX_FEN, AmountError, to_fen, to_yuan
from huiminbao.vocabulary import (
    COST_PARTS,
    FEE_LINE_AMOUNTS,
    FEE_LINE_SCHEMA,
    FUND_FIELDS,
    INSURED_OPTIONAL,
    INSURED_SCHEMA,
    OPTIONAL_AMOUNTS,
    REFUND_FLAG,
    SETTLEMENT_AMOUNTS,
    SETTLEMENT_SCHEMA,
)

REQUIRED = ("setl_id", "psn_no", "med_type", "begndate", "setl_time", "medfee_sumamt", *COST_PARTS)


class RecordError(ValueError):
    """A record that cannot be accepted; says which record and which field."""

    def __init__(self, record: str, field: str, message: str):
        self.record, self.field = record, field
        super().__init__(f"{record}: {field}: {message}")


def _date(value: Any, record: str, field: str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError as exc:
        raise RecordError(record, field, f"not a date: {value!r}") from exc


def _time(value: Any, record: str, field: str) -> datetime:
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    try:
        return datetime.fromisoformat(str(value))
    except ValueError as exc:
        raise RecordError(record, field, f"not a date-time: {value!r}") from exc


def _fen(value: Any, record: str, field: str) -> int:
    if value is None or value == "":
        raise RecordError(record, field, "missing amount")
    try:
        fen = to_fen(value)
    except AmountError as exc:
        raise RecordError(record, field, str(exc)) from exc
    if abs(fen) > MAX_FEN:
        raise RecordError(record, field, f"amount {value!r} is beyond any settlement (at most {to_yuan(MAX_FEN)})")
    return fen


def _codes(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [c.strip() for c in value.replace(",", ";").split(";") if c.strip()]
    return [str(c) for c in value]


def settlement_from_json(obj: Mapping[str, Any], where: str) -> dict[str, Any]:
    """One ``setlinfo`` object (yuan) to an engine row (fen), checked field by field."""
    setl_id = str(obj.get("setl_id") or "")
    record = f"settlement {setl_id}" if setl_id else where
    for name in REQUIRED:
        if obj.get(name) in (None, ""):
            raise RecordError(record, name, "missing")
    row: dict[str, Any] = {
        name: (str(obj[name]) if obj.get(name) is not None else None)
        for name in SETTLEMENT_SCHEMA
        if SETTLEMENT_SCHEMA[name] == pl.Utf8
    }
    row["refd_setl_flag"] = row.get("refd_setl_flag") or "0"
    for name in SETTLEMENT_AMOUNTS:
        row[name] = _fen(obj[name], record, name) if obj.get(name) not in (None, "") or name in REQUIRED else 0
    for name in OPTIONAL_AMOUNTS:
        row[name] = _fen(obj[name], record, name) if obj.get(name) not in (None, "") else None
    row["begndate"] = _date(obj["begndate"], record, "begndate")
    row["enddate"] = _date(obj.get("enddate") or obj["begndate"], record, "enddate")
    row["setl_time"] = _time(obj["setl_time"], record, "setl_time")
    row["out_area_filed"] = bool(obj.get("out_area_filed", False))
    row["diseases"] = _codes(obj.get("diseases"))
    if obj.get("certno"):
        try:
            validate_certno(str(obj["certno"]))
        except CertNoError as exc:
            raise RecordError(record, "certno", str(exc)) from exc
    check_settlement(row, record)
    return row


def check_settlement(row: Mapping[str, Any], record: str) -> None:
    """The national platform's identities and signs, for one row in fen."""
    refund = row.get("refd_setl_flag") == REFUND_FLAG
    for name in SETTLEMENT_AMOUNTS:
        value = row[name]
        if (value < 0 and not refund) or (value > 0 and refund):
            sign = "negative" if value < 0 else "positive"
            kind = "an ordinary settlement" if not refund else "a refund (refd_setl_flag 1 carries negated amounts)"
            raise RecordError(record, name, f"{sign} amount {value / 100:.2f} in {kind}")
    if refund and not row.get("init_setl_id"):
        raise RecordError(record, "init_setl_id", "a refund must name the settlement it refunds")
    parts = sum(row[p] for p in COST_PARTS)
    if parts != row["medfee_sumamt"]:
        raise RecordError(
            record,
            "medfee_sumamt",
            f"{row['medfee_sumamt'] / 100:.2f} is not fulamt_ownpay_amt + overlmt_selfpay + preselfpay_amt + "
            f"inscp_scp_amt = {parts / 100:.2f}",
        )
    funds = sum(row[f] for f in FUND_FIELDS)
    if funds != row["fund_pay_sumamt"]:
        raise RecordError(
            record,
            "fund_pay_sumamt",
            f"{row['fund_pay_sumamt'] / 100:.2f} is not the sum of the funds = {funds / 100:.2f}",
        )
    if row["psn_part_amt"] or row["acct_pay"] or row["psn_cash_pay"]:
        if row["psn_part_amt"] != row["medfee_sumamt"] - row["fund_pay_sumamt"]:
            raise RecordError(record, "psn_part_amt", "is not medfee_sumamt - fund_pay_sumamt")
        if row["psn_part_amt"] != row["acct_pay"] + row["psn_cash_pay"]:
            raise RecordError(record, "psn_part_amt", "is not acct_pay + psn_cash_pay")


def line_from_json(obj: Mapping[str, Any], setl_id: str, k: int) -> dict[str, Any]:
    record = f"settlement {setl_id} fee line {obj.get('feedetl_sn') or k + 1}"
    row: dict[str, Any] = {"setl_id": setl_id, "feedetl_sn": str(obj.get("feedetl_sn") or k + 1)}
    for name in ("med_list_codg", "chrgitm_lv", "med_chrgitm_type"):
        if obj.get(name) in (None, ""):
            raise RecordError(record, name, "missing")
        row[name] = str(obj[name])
    for name in FEE_LINE_AMOUNTS:
        row[name] = _fen(obj.get(name, 0), record, name)
    parts = row["fulamt_ownpay_amt"] + row["preselfpay_amt"] + row["inscp_scp_amt"] + row["overlmt_amt"]
    if parts != row["det_item_fee_sumamt"]:
        raise RecordError(
            record,
            "det_item_fee_sumamt",
            f"{row['det_item_fee_sumamt'] / 100:.2f} is not the sum of its parts = {parts / 100:.2f}",
        )
    return row


def settlements_frame(rows: Iterable[Mapping[str, Any]]) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=SETTLEMENT_SCHEMA)


def lines_frame(rows: Iterable[Mapping[str, Any]]) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=FEE_LINE_SCHEMA)


def insured_frame(rows: Iterable[Mapping[str, Any]]) -> pl.DataFrame:
    schema = {**INSURED_SCHEMA, **INSURED_OPTIONAL}
    return pl.DataFrame([{k: r.get(k) for k in schema} for r in rows], schema=schema)


def person_from_json(obj: Mapping[str, Any]) -> dict[str, Any]:
    psn_no = str(obj.get("psn_no") or "")
    record = f"person {psn_no}" if psn_no else "person"
    if not psn_no:
        raise RecordError(record, "psn_no", "missing")
    if obj.get("certno"):
        try:
            validate_certno(str(obj["certno"]))
        except CertNoError as exc:
            raise RecordError(record, "certno", str(exc)) from exc
    return {
        "psn_no": psn_no,
        "insutype": str(obj["insutype"]) if obj.get("insutype") else None,
        "birth_date": _date(obj["birth_date"], record, "birth_date") if obj.get("birth_date") else None,
        "tier": obj.get("tier"),
        "preexisting": _codes(obj.get("preexisting")),
        "populations": _codes(obj.get("populations")),
        "insu_status": str(obj["insu_status"]) if obj.get("insu_status") else None,
        "insu_status_date": (
            _date(obj["insu_status_date"], record, "insu_status_date") if obj.get("insu_status_date") else None
        ),
        "cover_start": _date(obj["cover_start"], record, "cover_start") if obj.get("cover_start") else None,
        "cover_end": _date(obj["cover_end"], record, "cover_end") if obj.get("cover_end") else None,
    }


def suffix(path: Path) -> str:
    name = path.name.lower()
    for ext in (".parquet", ".csv"):
        if name.endswith(ext):
            return ext
    raise RecordError(str(path), "(file)", "expected a .csv or .parquet file")
