"""National figures the synthetic year is calibrated to, each with where its order of magnitude comes from.

Nothing here depends on a city or a plan (those figures live in ``synth/profiles/*.yaml``). No internet
was at hand when these were set: figures quoted from the national bulletins are rounded from memory of the
published tables and marked approximate; the shapes (age gradient, tails) are chosen to reproduce those
published averages, not fitted to microdata.

The check on the whole: a synthetic year run through a 惠民保 plan should pay about 1-3 % of the insured
and reach a loss ratio of roughly 60-100 % at the plan's premium, as published 惠民保 years do
(tests/test_synth.py, test_a_year_looks_like_a_published_huiminbao_year).
"""

from __future__ import annotations

import numpy as np

# --- who buys --------------------------------------------------------------------------------------

TAKE_UP_BY_AGE = np.array(
    [0.9, 0.8, 0.8, 0.6, 0.6, 0.7, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.4, 1.5, 1.6, 1.6, 1.5, 1.3, 1.1]
)
"""Relative take-up of a 惠民保 plan by 5-year age band (0-4 ... 90+), applied to the census ages: older
people (and parents for their children) buy more, young adults least; about 30 % of buyers are 60 or older
against 19 % of the population (published 惠民保 enrolment reports, e.g. 沪惠保 and 北京普惠健康保 2021:
a third of buyers over 60; approximate). The synthetic roster is the plan's insured persons."""

# --- how often people are treated -----------------------------------------------------------------

INPATIENT_RATE = 0.21
"""Inpatient stays per insured person and year. 国家卫生健康委《2023年我国卫生健康事业发展统计公报》: 入院
3.0 亿人次, 居民年住院率 21.4 %; 国家医保局《全国医疗保障事业发展统计公报》2022-2023: 住院人次 / 参保人数
about 0.17-0.21 for employees and residents alike (approximate)."""

INPATIENT_AGE_PROFILE = np.array(
    [0.45, 0.2, 0.15, 0.25, 0.4, 0.45, 0.45, 0.4, 0.45, 0.55, 0.7, 0.85, 1.0, 1.25, 1.55, 1.85, 2.1, 2.3, 2.4]
)
"""Relative inpatient rate by 5-year age band (0-4 ... 90+): 国家卫生健康委《第六次国家卫生服务统计调查报告》
(2018), 住院率 by age, low for school ages, a bump at child-bearing ages, about five times the young adult
rate after 75 (approximate shape; scaled to INPATIENT_RATE over the census ages)."""

CONDITION_INPATIENT_FACTOR = {"chronic": 1.8, "cancer": 3.0}
"""A person's inpatient rate multiplier for a chronic pre-existing condition or a cancer (chemotherapy
cycles): same survey, 慢性病患者住院率 about twice the average (approximate)."""

CHRONIC_VISITS = 6.0
"""门诊慢特病 (med_type 14) settlements a year for a person with a chronic or cancer condition (monthly
refills, about half the months); 0.1 for others (approximate)."""

OUTPATIENT_VISITS = {"employee": 4.5, "resident": 2.0}
"""Ordinary outpatient settlements (med_type 11) per person-year with insurance paying or the personal
account: 公报 2023, 普通门急诊享受待遇人次 / 参保人数 about 5 for employees and 2 for residents (approximate)."""

PHARMACY_VISITS = {"employee": 2.5, "resident": 0.3}
"""Designated-pharmacy purchases (med_type 41) per person-year: employees buy with the personal account
(个人账户定点药店购药), residents seldom through insurance (approximate)."""

FRAILTY_SHAPE = 0.8
"""How unevenly ordinary visits of one kind fall on people of the same age and condition: a gamma frailty
with this shape (variance 1 / shape) multiplies each person's rate (approximate)."""

SEVERE_RATE = 0.05
"""Share of a city's people (census ages) with an illness that needs repeated inpatient care in the year:
new cancers (国家癌症中心 2022: about 4.8 million, 0.34 %), stroke and heart attack (about 0.4 %), and the
chronically ill elderly readmitted several times (about 12 % of people are inpatients in a year, about a
third of them more than once; approximate). Follows INPATIENT_AGE_PROFILE by age alone (most are new
illnesses, not a known condition's); their stays are part of INPATIENT_RATE. Set so that the year's
in-scope self-pay passes the critical-illness threshold for about 2-3 % of residents, which is what puts
1-3 % of a 惠民保 plan's insured above its 1-2 万元 deductibles, as published 惠民保 years report."""

SEVERE_STAYS = 2.0
"""Extra stays of such a person in the year (Poisson mean; chemotherapy cycles, rehabilitation,
readmissions), on top of the first (approximate)."""

# --- what care costs ------------------------------------------------------------------------------

STAY_MEDIAN = {"township": 1400.0, "county": 3000.0, "tertiary": 5500.0}
"""Median cost of an ordinary stay by hospital level (yuan), lognormal with STAY_SIGMA. 国家卫生健康委
《2022年我国卫生健康事业发展统计公报》: 次均住院费用 医院 about 10,900, 三级 about 14,300, 二级 about 6,600,
乡镇卫生院 about 2,200 yuan (approximate); with the seriously ill's stays (SEVERE_*) the means by level
come out near these."""

STAY_SIGMA = {"township": 0.6, "county": 0.75, "tertiary": 0.85}

STAY_LEVEL_SHARES = (0.15, 0.45, 0.40)
"""Where ordinary stays happen (township, county, city tertiary): 卫生健康统计公报 2022, 乡镇卫生院 about
15 % of stays, the rest split between 二级 and 三级 hospitals; a prefecture city's residents use their
county hospitals more than the national mix (approximate)."""

SEVERE_AT_TERTIARY = 0.8
"""Share of a serious illness's stays at city tertiary hospitals (the rest at county hospitals)."""

SEVERE_STAY_MEDIAN, SEVERE_STAY_SIGMA = 11_000.0, 0.6
"""A seriously ill person's stay (yuan), lognormal: mostly 7,000-25,000 (approximate)."""

CATASTROPHIC_SHARE, CATASTROPHIC_MIN, CATASTROPHIC_ALPHA, CATASTROPHIC_CAP = 0.01, 40_000.0, 2.0, 3_000_000.0
"""One in a hundred of those stays is catastrophic: a Pareto amount from 40,000 yuan with tail index 2
(mean about 80,000), capped at 3 million (ICU, CAR-T, transplants). With the other stays this puts the mean
stay near 10,000 yuan (Liaocheng's cost level), the median near 8,000, one stay in a hundred above about
45,000 and one in a thousand above 100,000, and the top 5 % of people at about 60 % of the year's cost
(published 惠民保 reports quote single claims of one to several million yuan; approximate)."""

OUTPATIENT_MEDIAN, CHRONIC_MEDIAN, PHARMACY_MEDIAN = 120.0, 600.0, 80.0
"""Median cost of an outpatient visit, a chronic-disease visit and a pharmacy purchase (yuan): 公报 2022,
门诊次均费用 about 300-350 yuan at hospitals and far less at township clinics (approximate)."""

# How a cost splits (national record's four parts): 公报 2022-2023, employees' actual inpatient
# reimbursement about 72 % against 84 % within the policy scope, residents about 56 % against 68 %: about
# 84 % of inpatient cost is within the policy scope; the rest is fully self-paid (about 9-10 %), class-B
# first self-pay (about 5 %) and above-price-limit (about 1 %) (approximate).
SELF_PAID_SHARE = 0.25
"""Scale of the fully self-paid share of a settlement (share = SELF_PAID_SHARE x U**2, U uniform; 1.5 times
for serious illness, at most 60 %): about 9 % of inpatient cost on average."""

CLASS_B_FIRST_SELF_PAY_BP = (500, 1000, 1500, 2000)
"""乙类先行自付 ratios of the provinces (5-20 % of a class-B item), in basis points."""

# --- high-cost drugs ------------------------------------------------------------------------------

DRUG_THERAPY = {"cancer": 0.05, "severe": 0.025, "other": 0.0003}
"""Share of people on a listed high-cost drug in the year: cancer patients on targeted or immune therapy,
newly seriously ill, and others (autoimmune, rare diseases). Published 惠民保 years pay their special-drug
liability to about 0.1-0.3 % of the insured (approximate)."""

DRUG_PURCHASE_MEDIAN, DRUG_PURCHASE_SIGMA = 4500.0, 0.7
"""One purchase (about a month's supply) of a listed high-cost drug, yuan: 5,000-20,000 a month for the
common targeted drugs after negotiation (approximate)."""

DRUG_MONTHS = (1, 12, 0.5)
"""Purchases a year of a person on a high-cost drug: 1 + Binomial(11, 0.5), about 6.5 (approximate)."""

DRUG_SETTING = (0.6, 0.3, 0.1)
"""Where high-cost drug purchases happen: a designated pharmacy (DTP, 双通道), a chronic-disease outpatient
visit, a short stay (infusions): 国家医保局 双通道 policy (医保发〔2021〕28号) moved most negotiated drugs to
pharmacies (approximate)."""

DRUG_CLASS_B_SHARE = 0.5
"""Share of listed high-cost drug purchases that are class B (in the catalog, first self-pay then the
funds) rather than fully self-paid (approximate)."""

PRESCRIBER_COUNTY_OR_HIGHER, PRESCRIBER_TERTIARY = 0.95, 0.7
"""Share of high-cost drug prescriptions written at county-level or higher hospitals (the plans require
it; the rest come from township clinics and are not claimable), and of those at the city's tertiary
hospitals rather than a county's people's hospital (targeted and biological drugs are started by
oncology and specialist departments; approximate)."""

# --- where people are treated ---------------------------------------------------------------------

OUT_OF_PROVINCE, OUT_OF_CITY = 0.04, 0.08
"""Shares of stays outside the province and elsewhere in the province: 公报 2023, about 1,000-1,200 万
cross-province inpatient settlements of about 2.5 亿 (4-5 %); within-province out-of-city stays about
twice that (approximate). Serious illness goes out of area twice as often (big-city hospitals)."""

OUT_OF_AREA_FILED = 0.8
"""Share of out-of-area stays with the filing (异地就医备案) on record: direct settlement needs it, and
most cross-province stays are settled directly (公报 2023, approximate)."""

# --- corrections ----------------------------------------------------------------------------------

REFUND_SHARE = 0.02
"""Share of settlement records that are refunds of an earlier settlement (退费, usually re-settled after a
correction): about 2 % in hospitals' settlement feeds (operators' order of magnitude; approximate)."""
