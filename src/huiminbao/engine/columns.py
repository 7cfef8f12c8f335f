"""The engine's input and output columns: national platform field names, money in int64 fen.

Frames handed to the engine already hold integer fen; converting from yuan and
validating happens at the edges (``huiminbao.settlement.io``). Keeping the names of
the national medical insurance information platform (setlinfo / feedetl) means a
plan's base expression reads like the interface document.
"""

from __future__ import annotations

import polars as pl

# setlinfo amounts (yuan at the edge, fen here)
SETTLEMENT_AMOUNTS: tuple[str, ...] = (
    "medfee_sumamt",
    "fulamt_ownpay_amt",
    "overlmt_selfpay",
    "preselfpay_amt",
    "inscp_scp_amt",
    "act_pay_dedc",
    "hifp_pay",
    "hifmi_pay",
    "hifob_pay",
    "cvlserv_pay",
    "hifes_pay",
    "maf_pay",
    "oth_pay",
    "fund_pay_sumamt",
    "psn_part_amt",
    "acct_pay",
    "psn_cash_pay",
)
# The funds that make up fund_pay_sumamt.
FUND_FIELDS: tuple[str, ...] = (
    "hifp_pay",
    "hifmi_pay",
    "hifob_pay",
    "cvlserv_pay",
    "hifes_pay",
    "maf_pay",
    "oth_pay",
)
# The four parts that make up medfee_sumamt.
COST_PARTS: tuple[str, ...] = ("fulamt_ownpay_amt", "overlmt_selfpay", "preselfpay_amt", "inscp_scp_amt")

SETTLEMENT_TEXT: tuple[str, ...] = (
    "setl_id",
    "mdtrt_id",
    "psn_no",
    "insutype",  # 310 employee, 390 resident
    "med_type",  # 11 outpatient, 14 outpatient chronic/special disease, 21 inpatient, ...
    "fixmedins_code",
    "insu_admdvs",  # insured person's area code (6 digits)
    "mdtrt_area_admvs",  # where care happened (6 digits)
    "refd_setl_flag",  # "1" refund (reversal)
    "init_setl_id",  # the original a reversal undoes
)

SETTLEMENT_SCHEMA: dict[str, pl.DataType] = {
    **{name: pl.Utf8() for name in SETTLEMENT_TEXT},
    "begndate": pl.Date(),
    "enddate": pl.Date(),
    "setl_time": pl.Datetime("us"),
    **{name: pl.Int64() for name in SETTLEMENT_AMOUNTS},
    "out_area_filed": pl.Boolean(),  # out-of-area care filing (异地就医备案) on record
    "diseases": pl.List(pl.Utf8()),  # ICD-10 codes of the stay
}

FEE_LINE_AMOUNTS: tuple[str, ...] = (
    "det_item_fee_sumamt",
    "fulamt_ownpay_amt",
    "preselfpay_amt",
    "inscp_scp_amt",
    "overlmt_amt",
)
FEE_LINE_SCHEMA: dict[str, pl.DataType] = {
    "setl_id": pl.Utf8(),
    "feedetl_sn": pl.Utf8(),
    "med_list_codg": pl.Utf8(),
    "chrgitm_lv": pl.Utf8(),  # 01 class A, 02 class B, 03 self-paid
    "med_chrgitm_type": pl.Utf8(),  # 09 western drugs, 10 herbal pieces, 11 patent medicines, ...
    **{name: pl.Int64() for name in FEE_LINE_AMOUNTS},
}
# A fee line's amount field and the settlement field it is part of.
LINE_TO_SETTLEMENT_FIELD: dict[str, str] = {
    "det_item_fee_sumamt": "medfee_sumamt",
    "fulamt_ownpay_amt": "fulamt_ownpay_amt",
    "preselfpay_amt": "preselfpay_amt",
    "inscp_scp_amt": "inscp_scp_amt",
    "overlmt_amt": "overlmt_selfpay",
}

INSURED_SCHEMA: dict[str, pl.DataType] = {
    "psn_no": pl.Utf8(),
    "insutype": pl.Utf8(),
    "birth_date": pl.Date(),
    "tier": pl.Utf8(),  # plan tier the person bought; null means the plan's default tier
    "preexisting": pl.List(pl.Utf8()),  # ICD-10 codes of pre-existing conditions (既往症)
    "populations": pl.List(pl.Utf8()),  # special-population tags, e.g. poverty_lifted, veteran
}

REFUND_FLAG = "1"
