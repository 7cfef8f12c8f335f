"""The national settlement record's vocabulary: field names, types, Chinese labels and code lists.

Hospitals and the bureau speak the national medical insurance information platform's
interface (setlinfo, feedetl); keeping its names lets a plan's base expression read like
the interface document, and keeping their Chinese labels here lets every error name a field
the way the person who typed it knows it. Plans (which check expressions against these
names), the engine (whose frames have these columns, money in int64 fen) and the readers at
the edge (which convert yuan to fen) all import this module; it imports nothing of the app.
"""

from __future__ import annotations

import polars as pl

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
# setlinfo amounts (yuan at the edge, fen inside)
SETTLEMENT_AMOUNTS: tuple[str, ...] = (
    "medfee_sumamt",
    "fulamt_ownpay_amt",
    "overlmt_selfpay",
    "preselfpay_amt",
    "inscp_scp_amt",
    "act_pay_dedc",
    *FUND_FIELDS,
    "fund_pay_sumamt",
    "psn_part_amt",
    "acct_pay",
    "psn_cash_pay",
)
# The four parts that make up medfee_sumamt.
COST_PARTS: tuple[str, ...] = ("fulamt_ownpay_amt", "overlmt_selfpay", "preselfpay_amt", "inscp_scp_amt")
# Optional amounts a plan may read that setlinfo itself does not carry: the critical-illness
# insurance's policy-scope amount comes from the settlement's fund breakdown (setldetail, the
# 大病保险 row's inscp_scp_amt). Null when the sender did not give it.
OPTIONAL_AMOUNTS: tuple[str, ...] = ("hifmi_inscp_scp_amt",)

SETTLEMENT_TEXT: tuple[str, ...] = (
    "setl_id",
    "mdtrt_id",
    "psn_no",
    "insutype",  # 310 employee, 390 resident
    "med_type",  # 11 outpatient, 14 outpatient chronic/special disease, 21 inpatient, ...
    "fixmedins_code",
    "rx_fixmedins_code",  # the institution whose doctor prescribed (a pharmacy may dispense)
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
    **{name: pl.Int64() for name in OPTIONAL_AMOUNTS},
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
FEE_LINE_CODES: tuple[str, ...] = ("med_list_codg", "chrgitm_lv", "med_chrgitm_type")
FEE_LINE_SCHEMA: dict[str, pl.DataType] = {
    "setl_id": pl.Utf8(),
    "feedetl_sn": pl.Utf8(),
    "med_list_codg": pl.Utf8(),
    "chrgitm_lv": pl.Utf8(),  # 01 class A, 02 class B, 03 self-paid
    "med_chrgitm_type": pl.Utf8(),  # 09 western drugs, 10 herbal pieces, 11 patent medicines, ...
    **{name: pl.Int64() for name in FEE_LINE_AMOUNTS},
}
# A fee line's share of the settlement's in-scope cost the patient still owes after all public funds:
# the line's in-scope amount x (inscp_scp_amt - fund_pay_sumamt) / inscp_scp_amt, in whole fen (floor).
# Funds pay the settlement, not lines, so a plan that pays on in-scope self-pay of some lines (Liaocheng's
# special-efficacy drugs) reads this derived amount; it is claimed from the settlement's in-scope cost.
INSCP_SELFPAY = "inscp_selfpay_amt"

# A fee line's amount field and the settlement field it is part of.
LINE_TO_SETTLEMENT_FIELD: dict[str, str] = {
    "det_item_fee_sumamt": "medfee_sumamt",
    "fulamt_ownpay_amt": "fulamt_ownpay_amt",
    "preselfpay_amt": "preselfpay_amt",
    "inscp_scp_amt": "inscp_scp_amt",
    "overlmt_amt": "overlmt_selfpay",
}
# What a line liability's base field takes from its settlement when the liability claims the line.
CLAIMED_FROM: dict[str, str] = {**LINE_TO_SETTLEMENT_FIELD, INSCP_SELFPAY: "inscp_scp_amt"}

INSURED_SCHEMA: dict[str, pl.DataType] = {
    "psn_no": pl.Utf8(),
    "insutype": pl.Utf8(),
    "birth_date": pl.Date(),
    "tier": pl.Utf8(),  # plan tier the person bought; null means the plan's default tier
    "preexisting": pl.List(pl.Utf8()),  # ICD-10 codes of pre-existing conditions (既往症)
    "populations": pl.List(pl.Utf8()),  # special-population tags, e.g. poverty_alleviated, veteran
}

# What an insured frame may also say of a person: an own cover period (a veteran enrolled mid-year)
# and the basic insurance status with the date it took effect (a plan may follow it).
INSURED_OPTIONAL: dict[str, pl.DataType] = {
    "cover_start": pl.Date(),
    "cover_end": pl.Date(),
    "insu_status": pl.Utf8(),  # psn_insu_stas: 1 insured, 2 suspended, 4 ended
    "insu_status_date": pl.Date(),  # psn_insu_date
}

REFUND_FLAG = "1"

# --- codes -------------------------------------------------------------------------------------

INSUTYPES: dict[str, str] = {"310": "职工基本医疗保险", "390": "城乡居民基本医疗保险"}
# The national dictionary's insurance types (险种类型); a plan says which of them it covers.
INSUTYPES_KNOWN: dict[str, str] = {
    **INSUTYPES,
    "320": "公务员医疗补助",
    "330": "大额医疗费用补助",
    "340": "离休人员医疗保障",
    "350": "一至六级残废军人医疗补助",
    "360": "老红军医疗保障",
    "370": "企业补充医疗保险",
    "380": "新型农村合作医疗",
    "391": "城镇居民基本医疗保险",
    "392": "城乡居民大病医疗保险",
    "399": "其他特殊人员医疗保障",
    "410": "长期照护保险",
    "510": "生育保险",
}

# The national dictionary's kinds of care (医疗类别). Provinces extend a code with two or four more
# digits (e.g. 1401 for one kind of chronic disease); such a code is read by its first two digits.
MED_TYPES: dict[str, str] = {
    "11": "普通门诊",
    "12": "门诊挂号",
    "13": "急诊",
    "14": "门诊慢特病",
    "15": "特药门诊",
    "16": "中医特色治疗",
    "19": "门诊两病",
    "21": "普通住院",
    "22": "外伤住院",
    "23": "转外诊治住院",
    "24": "急诊转住院",
    "25": "家庭病床",
    "26": "单病种住院",
    "28": "日间手术",
    "41": "定点药店购药",
    "51": "生育门诊",
    "52": "生育住院",
    "53": "计划生育手术",
}
CHRGITM_LVS: dict[str, str] = {"01": "甲类", "02": "乙类", "03": "自费"}
# Population tags of the bureau's roster (INTERFACES.md) and what they mean.
POPULATIONS: dict[str, str] = {
    "poverty_alleviated": "脱贫享受政策人口",
    "veteran": "退役军人",
    "extreme_hardship": "特困人员",
    "low_income": "低保及低收入人口",
}
INSU_STATUSES: dict[str, str] = {"1": "正常参保", "2": "暂停参保", "4": "终止参保"}

# --- labels ------------------------------------------------------------------------------------

LABELS: dict[str, str] = {
    "setl_id": "结算ID",
    "mdtrt_id": "就诊ID",
    "psn_no": "人员编号",
    "certno": "证件号码",
    "insutype": "险种类型",
    "med_type": "医疗类别",
    "begndate": "开始日期",
    "enddate": "结束日期",
    "setl_time": "结算时间",
    "medfee_sumamt": "医疗费总额",
    "fulamt_ownpay_amt": "全自费金额",
    "overlmt_selfpay": "超限价自费费用",
    "overlmt_amt": "超限价金额",
    "preselfpay_amt": "先行自付金额",
    "inscp_scp_amt": "符合政策范围金额",
    "act_pay_dedc": "实际支付起付线",
    "hifp_pay": "基本医疗保险统筹基金支出",
    "hifmi_pay": "居民大病保险资金支出",
    "hifob_pay": "职工大额医疗费用补助基金支出",
    "cvlserv_pay": "公务员医疗补助资金支出",
    "hifes_pay": "企业补充医疗保险基金支出",
    "maf_pay": "医疗救助基金支出",
    "oth_pay": "其他支出",
    "fund_pay_sumamt": "基金支付总额",
    "psn_part_amt": "个人负担总金额",
    "acct_pay": "个人账户支出",
    "psn_cash_pay": "个人现金支出",
    "hifmi_inscp_scp_amt": "大病保险政策范围内金额",
    "fixmedins_code": "定点医药机构编号",
    "rx_fixmedins_code": "处方开具机构编号",
    "insu_admdvs": "参保地医保区划",
    "mdtrt_area_admvs": "就医地医保区划",
    "refd_setl_flag": "退费结算标志",
    "init_setl_id": "原结算ID",
    "out_area_filed": "异地就医备案",
    "diseases": "诊断（ICD-10）",
    "feedetl": "费用明细",
    "feedetl_sn": "费用明细流水号",
    "med_list_codg": "医疗目录编码",
    "chrgitm_lv": "收费项目等级",
    "med_chrgitm_type": "医疗收费项目类别",
    "det_item_fee_sumamt": "明细项目费用总额",
    "inscp_selfpay_amt": "政策范围内个人自付（按明细分摊）",
    "prescriber": "处方机构",
    "birth_date": "出生日期",
    "brdy": "出生日期",
    "tier": "保障版本",
    "preexisting": "既往症（ICD-10）",
    "populations": "特殊人群",
    "cover_start": "保障开始日期",
    "cover_end": "保障结束日期",
    "insu_status": "基本医保参保状态",
    "insu_status_date": "参保状态变更日期",
    "psn_insu_stas": "基本医保参保状态",
    "psn_insu_date": "参保状态变更日期",
}


def label(field: str) -> str:
    """A field as people know it: its Chinese label with the national name, e.g. 个人负担总金额（psn_part_amt）."""
    base = field.rsplit(".", 1)[-1].split("[", 1)[0]
    text = LABELS.get(base)
    return f"{text}（{field}）" if text else field


def med_type_known(code: str) -> bool:
    """A national kind-of-care code, or a province's extension of one (two or four more digits)."""
    return code.isdigit() and len(code) in (2, 4, 6) and code[:2] in MED_TYPES
