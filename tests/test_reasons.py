"""Every yuan not paid comes with its reason: settlements that cannot pay at all, and lines that
pay less than their base, as a resident sees them in an estimate (试算)."""

from __future__ import annotations

from typing import Any

import pytest

from huiminbao.settlement.estimate import estimate
from tests.records import COUNTY, SD, SE, drug, stay

CLINIC = "H37150299999"  # an institution not in the county-level catalog


def run(plan: str, *stays: dict[str, Any], **person: Any) -> dict[str, Any]:
    who = {"psn_no": "P1", "insutype": "390", "birth_date": "1960-05-01", **person}
    return estimate({"plan": plan, "person": who, "settlements": list(stays)})


def line(result: dict[str, Any], liability: str, k: int = 0) -> dict[str, Any]:
    return next(x for x in result["settlements"][k]["lines"] if x["liability"] == liability)


def test_below_the_deductible_says_how_much_is_left():
    out = run("liaocheng-2024", stay(inscp=30_000, funds=20_000))
    got = line(out, "inpatient_inscope")
    assert (got["payout"], got["reason"]) == ("0.00", "未达免赔额（本次10000.00元计入免赔额，年度免赔额尚余6000.00元）")


def test_a_paid_line_explains_deductible_and_ratio_and_a_zero_line_has_nothing_to_explain():
    out = run("liaocheng-2024", stay(inscp=100_000, funds=60_000))
    assert line(out, "inpatient_inscope")["reason"] == "扣除免赔额16000.00元；按80%赔付"
    assert line(out, "inpatient_outscope")["reason"] is None  # base 0: nothing withheld
    assert out["settlements"][0]["reason"] is None


def test_outpatient_care_under_an_inpatient_liability():
    got = line(run("liaocheng-2024", stay(med_type="11", inscp=30_000, funds=10_000)), "inpatient_inscope")
    assert (got["base"], got["counted"], got["payout"]) == ("20000.00", "0.00", "0.00")
    assert got["reason"] == "不属于住院费用（门诊及门诊慢特病费用不在本责任范围内）"


@pytest.mark.parametrize(
    ("record", "person", "reason"),
    [
        ({"day": "2023-12-31"}, {}, "就医开始日期不在保障期内"),
        ({"day": "2025-01-01"}, {}, "就医开始日期不在保障期内"),
        ({"insutype": "320"}, {"insutype": "320"}, "险种类型不在本方案参保范围内"),
        ({"insu": "110105"}, {}, "参保地不在本方案所在城市"),
    ],
)
def test_a_settlement_that_cannot_pay_at_all_says_why(record, person, reason):
    out = run("liaocheng-2024", stay(inscp=100_000, funds=60_000, **record), **person)
    s = out["settlements"][0]
    assert s["payout"] == "0.00"
    assert s["status"] != "covered"
    assert s["reason"].startswith(reason)
    assert line(out, "inpatient_inscope")["reason"] == s["reason"]


def test_the_last_day_of_cover_is_covered():
    out = run("liaocheng-2024", stay(day="2024-12-31", inscp=100_000, funds=60_000))
    assert (out["settlements"][0]["status"], out["total_payout"]) == ("covered", "19200.00")


def test_cover_follows_basic_insurance_suspended_from_its_date():
    # 因故被暂停或终止基本医疗保险待遇的，同步暂停或终止"聊惠保"待遇。
    person = {"insu_status": "2", "insu_status_date": "2024-06-01"}
    before = run("liaocheng-2024", stay(day="2024-05-31", inscp=100_000, funds=60_000), **person)
    after = run("liaocheng-2024", stay(day="2024-06-01", inscp=100_000, funds=60_000), **person)
    assert before["total_payout"] == "19200.00"
    assert after["total_payout"] == "0.00"
    assert after["settlements"][0]["reason"] == "基本医疗保险暂停参保，本方案待遇同步暂停"


def test_specific_drugs_follow_the_prescribing_institution():
    # 由县级及以上定点医疗机构的医生诊断并开具处方：a pharmacy (med_type 41) may dispense
    pharmacy = {"med_type": "41", "ownpay": 50_000, "fixmedins": "P37150200001", "feedetl": [drug(SD, ownpay=50_000)]}
    prescribed = run("liaocheng-2024", stay(**pharmacy, rx_fixmedins_code=COUNTY))
    assert line(prescribed, "specific_drugs")["payout"] == "27200.00"  # (50,000 − 16,000) × 80%
    clinic = run("liaocheng-2024", stay(**pharmacy, rx_fixmedins_code=CLINIC))
    got = line(clinic, "specific_drugs")
    assert (got["base"], got["payout"]) == ("50000.00", "0.00")
    assert got["reason"] == "处方不是由县级及以上定点医疗机构的医生开具"


def test_special_efficacy_drugs_count_their_in_scope_self_pay():
    # 特殊疗效药品费用 is not limited to costs outside basic insurance's scope. In scope 100,000, funds
    # paid 60,000: 40% of in-scope cost is self-paid; the drug's 50,000 in scope carries 20,000 of it.
    out = run("liaocheng-2024", stay(inscp=100_000, funds=60_000, feedetl=[drug(SE, inscp=50_000)]))
    assert line(out, "special_efficacy_drugs")["payout"] == "8000.00"  # (20,000 − 10,000) × 80%
    assert line(out, "inpatient_inscope")["payout"] == "3200.00"  # (40,000 − 20,000 − 16,000) × 80%
    assert out["total_payout"] == "11200.00"


def test_an_exclusion_gives_the_plans_reason():
    stay_ = stay(med_type="11", ownpay=50_000, day="2025-03-01", diseases=["C34.1"], feedetl=[drug(SD, ownpay=50_000)])
    got = line(run("liaocheng-2025", stay_, preexisting=["C34.9"]), "specific_drugs")
    assert (got["base"], got["payout"]) == ("50000.00", "0.00")
    assert got["reason"] == "恶性肿瘤既往症患者，与该既往症相关的药品费用不纳入报销范围"


def test_out_of_province_without_filing_names_the_filing():
    out = run("liaocheng-2025", stay(day="2025-03-01", inscp=100_000, funds=60_000, care="110105"))
    assert line(out, "inpatient_inscope")["reason"] == "省外就医未办理异地就医备案，不予报销"


def test_a_missing_critical_illness_amount_is_said_not_silently_zero():
    base = {"day": "2021-05-01", "inscp": 100_000, "funds": 60_000, "insu": "330802", "fixmedins": "H33080200001"}
    got = line(run("quzhou-2021", stay(**base)), "ci_selfpay")
    assert got["reason"] == "结算记录未提供大病保险政策范围内金额（hifmi_inscp_scp_amt），无法计算本责任"


def test_the_annual_limit_is_named_when_it_cuts():
    # (1,500,000 − 16,000) × 80% = 1,187,200 > 1,000,000
    got = line(run("liaocheng-2024", stay(inscp=1_500_000)), "inpatient_inscope")
    assert got["payout"] == "1000000.00"
    assert got["reason"] == "扣除免赔额16000.00元；按80%赔付；已达本责任年度赔付限额"


def test_a_counting_factor_is_explained():
    # 衢州市外异地就医的责任内费用按50%计入
    lines = [dict(drug("XOTHER01", ownpay=30_000), chrgitm_lv="03")]
    s = stay(day="2021-05-01", ownpay=30_000, insu="330802", care="330102", feedetl=lines)
    got = line(run("quzhou-2021", s), "outofcatalog_drugs")
    assert got["reason"] == "衢州市外异地就医，按50%计入；扣除免赔额10000.00元；按50%赔付"
    assert got["payout"] == "2500.00"  # (15,000 − 10,000) × 50%


def test_assumed_figures_are_warned_about():
    out = run("liaocheng-2025", stay(day="2025-03-01", inscp=100_000, funds=60_000))
    assert any(w.startswith("一般人群保费为推定值") for w in out["warnings"])
    assert "warnings" not in run("liaocheng-2024", stay(inscp=100_000, funds=60_000))
