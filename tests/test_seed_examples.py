"""Each seed rule as a worked example, with the seed's own numbers (yuan)."""

from __future__ import annotations

import pytest

from huiminbao.engine.adjudicate import adjudicate
from huiminbao.engine.reference import adjudicate_reference
from huiminbao.plans import PlanIncomplete, compiled_plan
from tests.factories import frames, line, person, refund, setl

SD = "XLCTD0001"  # a drug in the (illustrative) Liaocheng specific-drug catalog
SE = "XSDTX0001"  # a drug in the (illustrative) Shandong special-efficacy catalog


def pay(plan: str, rows, people=None, lines=None) -> dict[str, float]:
    """Payout per settlement in yuan, checked against the reference adjudicator too."""
    s, p, fl = frames(rows, people or [person()], lines)
    compiled = compiled_plan(plan)
    got = adjudicate(compiled, s, p, fl)
    ref, _, _ = adjudicate_reference(compiled, s, p, fl)
    engine = dict(zip(got.settlements["setl_id"], got.settlements["payout"], strict=True))
    assert engine == dict(zip(ref["setl_id"], ref["payout"], strict=True))
    return {k: v / 100 for k, v in engine.items()}


def by_liability(plan: str, rows, people=None, lines=None) -> dict[tuple[str, str], float]:
    s, p, fl = frames(rows, people or [person()], lines)
    got = adjudicate(compiled_plan(plan), s, p, fl)
    return {(r["setl_id"], r["liability"]): r["payout"] / 100 for r in got.lines.iter_rows(named=True)}


# --- Liaocheng 2024 (聊医保发〔2023〕54号) ---------------------------------------------------------


def test_liaocheng_2024_inscope_inpatient_16000_deductible_80_percent():
    # 住院：医保范围内 100,000，统筹支付 60,000 → 个人自付 40,000；(40,000 − 16,000) × 80% = 19,200
    assert pay("liaocheng-2024", [setl("S1", inscp=100_000, funds=60_000)]) == {"S1": 19_200}


def test_liaocheng_2024_deductible_is_annual_across_stays():
    # two stays of 10,000 each: the first fills the deductible, the second pays (20,000 − 16,000) × 80%
    rows = [setl("S1", 1, inscp=30_000, funds=20_000), setl("S2", 20, inscp=30_000, funds=20_000)]
    assert pay("liaocheng-2024", rows) == {"S1": 0, "S2": 3_200}


def test_liaocheng_2024_outpatient_chronic_disease_is_not_inpatient():
    assert pay("liaocheng-2024", [setl("S1", med_type="14", inscp=100_000, funds=60_000)]) == {"S1": 0}


def test_liaocheng_2024_out_of_scope_inpatient_10_percent():
    # 乙类先行自付 10,000 + 全自费 20,000 = 30,000；(30,000 − 16,000) × 10% = 1,400
    assert pay("liaocheng-2024", [setl("S1", preself=10_000, ownpay=20_000)]) == {"S1": 1_400}


def test_liaocheng_2024_specific_drug_at_county_level_institution():
    # 特定高额药品 50,000 (全自费) in hospital: (50,000 − 16,000) × 80% = 27,200, not also under liability 2
    rows = [setl("S1", ownpay=50_000)]
    lines = [line("S1", SD, ownpay=50_000)]
    got = by_liability("liaocheng-2024", rows, lines=lines)
    assert got[("S1", "specific_drugs")] == 27_200
    assert got[("S1", "inpatient_outscope")] == 0


def test_liaocheng_2024_specific_drug_elsewhere_falls_to_out_of_scope_inpatient():
    rows = [setl("S1", ownpay=50_000, fixmedins="H37159900999")]
    lines = [line("S1", SD, ownpay=50_000)]
    got = by_liability("liaocheng-2024", rows, lines=lines)
    assert got[("S1", "specific_drugs")] == 0
    assert got[("S1", "inpatient_outscope")] == 3_400  # (50,000 − 16,000) × 10%


def test_liaocheng_2024_special_efficacy_drugs_10000_deductible_and_300000_limit():
    assert pay(
        "liaocheng-2024", [setl("S1", med_type="11", preself=30_000)], lines=[line("S1", SE, preself=30_000, lv="02")]
    ) == {"S1": 16_000}
    big = [setl("S2", med_type="11", preself=500_000)]
    assert pay("liaocheng-2024", big, lines=[line("S2", SE, preself=500_000, lv="02")]) == {"S2": 300_000}


def test_liaocheng_2024_reversal_pays_back_and_releases_the_deductible():
    first = setl("S1", 1, inscp=50_000, funds=20_000)  # 30,000 owed: (30,000 − 16,000) × 80% = 11,200
    rows = [first, refund(first, "R1", 5), setl("S2", 10, inscp=30_000, funds=10_000)]
    # after the refund the deductible is whole again: S2 (20,000 − 16,000) × 80% = 3,200
    assert pay("liaocheng-2024", rows) == {"S1": 11_200, "R1": -11_200, "S2": 3_200}


def test_liaocheng_2024_not_insured_or_outside_cover_pays_nothing():
    rows = [setl("S1", inscp=100_000, funds=60_000, psn_no="P9"), setl("S2", inscp=100_000, funds=60_000, year=2023)]
    assert pay("liaocheng-2024", rows) == {"S1": 0, "S2": 0}


# --- Liaocheng 2022: the news gives no deductible ---------------------------------------------


def test_liaocheng_2022_refuses_to_adjudicate_without_the_deductible():
    s, p, _ = frames([setl("S1", inscp=100_000, funds=60_000, year=2022)], [person()])
    with pytest.raises(PlanIncomplete, match="医保范围内个人住院自付医疗费用的免赔额：新闻稿"):
        adjudicate(compiled_plan("liaocheng-2022"), s, p)


# --- Liaocheng 2025 (Q&A page): out of province, malignant-tumour exclusion, 3.3 M ------------


def test_liaocheng_2025_specific_drugs_20000_deductible_except_malignant_tumour():
    # 特定高额药品：免赔额2万元，超过部分按80%赔付（恶性肿瘤既往症除外）；相关药品费用不纳入报销范围
    rows = [setl("S1", med_type="11", ownpay=50_000, year=2025, diseases=["C34.1"])]
    lines = [line("S1", SD, ownpay=50_000)]
    assert pay("liaocheng-2025", rows, lines=lines) == {"S1": 24_000}  # (50,000 − 20,000) × 80%
    sick = [person(preexisting=["C34.9"])]  # lung cancer before cover; this stay treats it: excluded
    assert pay("liaocheng-2025", rows, sick, lines) == {"S1": 0}
    other = [setl("S1", med_type="11", ownpay=50_000, year=2025, diseases=["C50.9"])]  # a new, unrelated cancer
    assert pay("liaocheng-2025", other, sick, lines) == {"S1": 24_000}


def test_liaocheng_2025_out_of_province_needs_the_filing():
    unfiled = [setl("S1", inscp=100_000, funds=60_000, care="110105", year=2025)]
    filed = [setl("S1", inscp=100_000, funds=60_000, care="110105", filed=True, year=2025)]
    in_province = [setl("S1", inscp=100_000, funds=60_000, care="370102", year=2025)]
    assert pay("liaocheng-2025", unfiled) == {"S1": 0}
    assert pay("liaocheng-2025", filed) == {"S1": 19_200}
    assert pay("liaocheng-2025", in_province) == {"S1": 19_200}


def test_liaocheng_2025_overall_limit_3300000_is_the_sum_of_the_limits():
    # every liability at its (assumed 2024) limit: 1,000,000 × 3 + 300,000 = 3,300,000 = 年度累计赔付限额
    rows = [setl("S1", inscp=2_000_000, ownpay=12_200_000, year=2025)]
    lines = [line("S1", SD, ownpay=1_500_000, sn="1"), line("S1", SE, ownpay=600_000, sn="2")]
    got = by_liability("liaocheng-2025", rows, lines=lines)
    assert got == {
        ("S1", "specific_drugs"): 1_000_000,  # (1,500,000 − 20,000) × 80% = 1,184,000 > 1,000,000
        ("S1", "special_efficacy_drugs"): 300_000,  # (600,000 − 20,000) × 60% = 348,000 > 300,000
        ("S1", "inpatient_inscope"): 1_000_000,  # (2,000,000 − 16,000) × 80% = 1,587,200 > 1,000,000
        ("S1", "inpatient_outscope"): 1_000_000,  # (12,200,000 − 2,100,000 − 16,000) × 10% = 1,008,400
    }
    assert pay("liaocheng-2025", rows, lines=lines) == {"S1": 3_300_000}


def test_liaocheng_2025_out_of_scope_inpatient_not_for_out_of_province_care():
    # 省外就医：住院费用需属于医保目录范围内（不含乙类首付部分）：省内沿用 2024 年度 10%（推定）
    home = [setl("S1", preself=10_000, ownpay=20_000, year=2025)]
    away = [setl("S1", preself=10_000, ownpay=20_000, care="110105", filed=True, year=2025)]
    assert pay("liaocheng-2025", home) == {"S1": 1_400}  # (30,000 − 16,000) × 10%
    assert pay("liaocheng-2025", away) == {"S1": 0}


# --- Quzhou 2021 -------------------------------------------------------------------------------


def test_quzhou_ci_selfpay_no_deductible_50_percent_only_after_critical_illness():
    # 符合大病报销支付范围的经大病保险报销后的剩余费用（不含大病起付线以下费用）：
    # 大病政策范围内 60,000 − 大病保险支付 20,000 = 40,000；× 50% = 20,000
    rows = [setl("S1", inscp=100_000, funds=40_000, hifmi=20_000, ci_scope=60_000, insu="330802", year=2021)]
    assert pay("quzhou-2021", rows) == {"S1": 20_000}
    below = [setl("S1", inscp=30_000, funds=20_000, ci_scope=0, insu="330802", year=2021)]
    assert pay("quzhou-2021", below) == {"S1": 0}  # nothing above the critical-illness threshold


def test_quzhou_out_of_catalog_drugs_count_at_50_percent_outside_quzhou():
    rows = [setl("S1", ownpay=30_000, insu="330802", year=2021)]
    lines = [line("S1", "XOTHER01", ownpay=30_000)]
    assert pay("quzhou-2021", rows, lines=lines) == {"S1": 10_000}  # (30,000 − 10,000) × 50%
    away = [setl("S1", ownpay=30_000, insu="330802", care="330102", year=2021)]
    assert pay("quzhou-2021", away, lines=lines) == {"S1": 2_500}  # (15,000 − 10,000) × 50%


def test_quzhou_special_drugs_at_designated_pharmacy():
    rows = [setl("S1", med_type="11", ownpay=25_000, insu="330802", fixmedins="P33080200001", year=2021)]
    lines = [line("S1", "XQZTY0001", ownpay=25_000)]
    assert pay("quzhou-2021", rows, lines=lines) == {"S1": 10_000}  # (25,000 − 5,000) × 50%


# --- Zibo (illustrative amounts): tiers, shared deductible, poverty population ---------------


def test_zibo_basic_tier_excludes_major_preexisting_conditions():
    # 基础版：五大类重大既往症除外 — the costs related to such a condition, not everything its holder spends
    rows = [setl("S1", inscp=100_000, funds=60_000, insu="370302", year=2022, diseases=["I21.9"])]
    assert pay("zibo-2022", rows) == {"S1": 14_000}  # (40,000 − 20,000) × 70%
    assert pay("zibo-2022", rows, [person(preexisting=["I21.0"])]) == {"S1": 0}
    fracture = [setl("S1", inscp=100_000, funds=60_000, insu="370302", year=2022, diseases=["S72.0"])]
    assert pay("zibo-2022", fracture, [person(preexisting=["I21.0"])]) == {"S1": 14_000}


def test_zibo_poverty_population_gets_the_upgraded_tier_and_lower_deductible():
    rows = [setl("S1", inscp=100_000, funds=60_000, insu="370302", year=2022)]
    assert pay("zibo-2022", rows, [person(populations=["poverty_alleviated"])]) == {
        "S1": 22_500
    }  # (40,000 − 10,000) × 75%
    sick = [person(populations=["poverty_alleviated"], preexisting=["I21.0"])]
    related = [setl("S1", inscp=100_000, funds=60_000, insu="370302", year=2022, diseases=["I21.4"])]
    assert pay("zibo-2022", related, sick) == {"S1": 12_000}  # 40% for costs of a pre-existing condition
    assert pay("zibo-2022", rows, sick) == {"S1": 22_500}  # other costs of the same person: 75%


def test_zibo_shared_deductible_consumed_in_precedence_order():
    # drugs come first in precedence: 15,000 of drugs take 15,000 of the shared 20,000 deductible
    rows = [setl("S1", inscp=100_000, funds=60_000, ownpay=15_000, insu="370302", year=2022)]
    lines = [line("S1", "XZBTD0001", ownpay=15_000)]
    got = by_liability("zibo-2022", rows, lines=lines)
    assert got[("S1", "specific_drugs")] == 0
    assert got[("S1", "selfpay")] == 24_500  # (40,000 − 5,000) × 70%


def test_rounding_is_half_up_once_on_the_persons_cumulative_amount():
    # 10% of 0.05 yuan above the deductible is half a fen: half up pays 0.01 (floor would pay 0.00).
    # Three such stays: the exact total is 1.5 fen, paid as 1 + 0 + 1 = 2 fen = round_half_up(1.5);
    # rounding each stay on its own would pay 3 fen, flooring 0.
    first = setl("S1", 1, preself=16_000.05)
    rows = [first, setl("S2", 2, preself=0.05), setl("S3", 3, preself=0.05)]
    assert pay("liaocheng-2024", rows) == {"S1": 0.01, "S2": 0.0, "S3": 0.01}
