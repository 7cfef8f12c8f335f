"""National settlement records as hospitals send them (yuan text), for tests on the user's side."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

SD = "XLCTD0001"  # Liaocheng specific-drug catalog (illustrative)
SE = "XSDTX0001"  # Shandong special-efficacy catalog (illustrative)
COUNTY = "H37150200001"  # a county-level institution of Liaocheng's catalog


def stay(
    setl_id: str = "S1",
    *,
    day: str = "2024-03-01",
    med_type: str = "21",
    inscp: int = 0,
    funds: int = 0,
    preself: int = 0,
    ownpay: int = 0,
    insu: str = "371502",
    care: str | None = None,
    fixmedins: str = COUNTY,
    **extra: Any,
) -> dict[str, Any]:
    """A national settlement record whose amounts add up (yuan, whole numbers for readability)."""
    total = inscp + preself + ownpay
    return {
        "setl_id": setl_id,
        "mdtrt_id": setl_id,
        "med_type": med_type,
        "begndate": day,
        "enddate": day,
        "setl_time": f"{day} 12:00:00",
        "medfee_sumamt": f"{total}.00",
        "fulamt_ownpay_amt": f"{ownpay}.00",
        "overlmt_selfpay": "0.00",
        "preselfpay_amt": f"{preself}.00",
        "inscp_scp_amt": f"{inscp}.00",
        "hifp_pay": f"{funds}.00",
        "fund_pay_sumamt": f"{funds}.00",
        "psn_part_amt": f"{total - funds}.00",
        "acct_pay": "0.00",
        "psn_cash_pay": f"{total - funds}.00",
        "fixmedins_code": fixmedins,
        "insu_admdvs": insu,
        "mdtrt_area_admvs": care or insu,
        **extra,
    }


def drug(code: str, *, ownpay: int = 0, inscp: int = 0, sn: str = "1") -> dict[str, Any]:
    return {
        "feedetl_sn": sn,
        "med_list_codg": code,
        "chrgitm_lv": "03" if ownpay else "02",
        "med_chrgitm_type": "09",
        "det_item_fee_sumamt": f"{ownpay + inscp}.00",
        "fulamt_ownpay_amt": f"{ownpay}.00",
        "preselfpay_amt": "0.00",
        "inscp_scp_amt": f"{inscp}.00",
        "overlmt_amt": "0.00",
    }


def write_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    """Rows as a CSV file with every key any row has as a column (sorted), as a bureau's export gives them."""
    fields = sorted({k for r in rows for k in r})
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)
    return path
