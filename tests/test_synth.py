"""The synthetic city: every identity of the national record holds exactly, on every row."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta

import polars as pl
import pytest

from huiminbao.engine.adjudicate import adjudicate
from huiminbao.identity.certno import certnos_valid
from huiminbao.identity.phone import PATTERN as PHONE_PATTERN
from huiminbao.money import to_yuan
from huiminbao.plans import compiled_plan
from huiminbao.synth import City, generate_city, write_city
from huiminbao.synth.profile import profile_data
from huiminbao.vocabulary import (
    COST_PARTS,
    FEE_LINE_SCHEMA,
    FUND_FIELDS,
    INSURED_SCHEMA,
    LINE_TO_SETTLEMENT_FIELD,
    OPTIONAL_AMOUNTS,
    SETTLEMENT_AMOUNTS,
    SETTLEMENT_SCHEMA,
)

PERSONS = 4000
CALIBRATED_PLANS = ["liaocheng-2024", "liaocheng-2025", "quzhou-2021", "zibo-2022"]
ASSISTED = ["poverty_alleviated", "extreme_hardship", "low_income"]


@pytest.fixture(scope="module")
def city() -> City:
    return generate_city("liaocheng-2024", PERSONS, seed=7)


@pytest.fixture(scope="module")
def s(city: City) -> pl.DataFrame:
    return city.settlements


def _signed(s: pl.DataFrame) -> pl.DataFrame:
    """Amounts with refunds turned back positive, so inequalities read the same for both."""
    sign = pl.when(pl.col("refd_setl_flag") == "1").then(-1).otherwise(1)
    return s.with_columns(pl.col(c) * sign for c in (*SETTLEMENT_AMOUNTS, *OPTIONAL_AMOUNTS))


def test_schemas(city: City) -> None:
    assert city.settlements.schema == pl.Schema(SETTLEMENT_SCHEMA)
    assert city.fee_lines is not None
    assert city.fee_lines.schema == pl.Schema(FEE_LINE_SCHEMA)
    assert city.insured.schema == pl.Schema(INSURED_SCHEMA)
    assert city.settlements.height == city.manifest["records"]
    # About 4.8 records a person at the calibrated rates (synth/calibration.py): ordinary outpatient
    # about 2.5, pharmacy about 1, chronic-disease visits about 0.7, stays about 0.25, refunds 2 %.
    assert 4.0 <= city.settlements.height / PERSONS <= 6.0
    assert city.manifest["calibrated"]
    assert city.roster["psn_no"].n_unique() == PERSONS
    assert city.settlements["setl_id"].n_unique() == city.settlements.height
    assert city.settlements["setl_id"].str.len_chars().unique().to_list() == [20]


def test_settlement_identities(s: pl.DataFrame) -> None:
    funds = pl.sum_horizontal(FUND_FIELDS)
    bad = s.filter(
        (pl.col("medfee_sumamt") != pl.sum_horizontal(COST_PARTS))
        | (pl.col("fund_pay_sumamt") != funds)
        | (pl.col("psn_part_amt") != pl.col("medfee_sumamt") - pl.col("fund_pay_sumamt"))
        | (pl.col("psn_part_amt") != pl.col("acct_pay") + pl.col("psn_cash_pay"))
    )
    assert bad.height == 0


def test_settlement_bounds(s: pl.DataFrame) -> None:
    p = _signed(s)
    assert p.select(pl.min_horizontal(SETTLEMENT_AMOUNTS).min()).item() >= 0
    assert p.filter(pl.col("act_pay_dedc") > pl.col("inscp_scp_amt")).height == 0
    # Funds pay only in scope; the pooled fund never pays the deductible (critical illness may).
    assert p.filter(pl.col("fund_pay_sumamt") > pl.col("inscp_scp_amt")).height == 0
    assert p.filter(pl.col("hifp_pay") > pl.col("inscp_scp_amt") - pl.col("act_pay_dedc")).height == 0
    assert p.filter((pl.col("act_pay_dedc") > 0) & (pl.col("med_type") != "21")).height == 0
    assert p.filter(pl.col("medfee_sumamt") <= 0).height == 0
    # Funds by insurance type: critical illness for residents, large-amount subsidy and
    # the personal account for employees.
    assert p.filter((pl.col("insutype") == "310") & (pl.col("hifmi_pay") > 0)).height == 0
    assert p.filter((pl.col("insutype") == "390") & (pl.col("hifob_pay") > 0)).height == 0
    assert p.filter((pl.col("insutype") == "390") & (pl.col("acct_pay") > 0)).height == 0
    assert p.filter(pl.col("hifmi_pay") > 0).height > 0
    assert p.filter(pl.col("acct_pay") > 0).height > 0
    # The large-amount subsidy pays only above the pooled fund's limit (the profile's pooled_cap).
    cap = round(profile_data("371500", "liaocheng-2024")[0]["basic_insurance"]["pooled_cap"] * 100)
    assert p.filter((pl.col("hifob_pay") > 0) & (pl.col("hifp_pay") < cap)).is_empty()


def test_assistance_only_for_assisted_people(city: City, s: pl.DataFrame) -> None:
    tags = city.roster.select("psn_no", "populations")
    paid = s.filter(pl.col("maf_pay") != 0).join(tags, on="psn_no")
    assert paid.height > 0
    assisted = paid["populations"].list.set_intersection(ASSISTED).list.len() > 0
    assert assisted.all()


def test_fee_lines_add_up(city: City, s: pl.DataFrame) -> None:
    lines = city.fee_lines
    assert lines is not None
    assert lines.filter(
        pl.col("det_item_fee_sumamt")
        != pl.col("fulamt_ownpay_amt") + pl.col("preselfpay_amt") + pl.col("inscp_scp_amt") + pl.col("overlmt_amt")
    ).is_empty()
    lv3 = lines.filter(pl.col("chrgitm_lv") == "03")
    assert (lv3["det_item_fee_sumamt"] == lv3["fulamt_ownpay_amt"]).all()
    lv1 = lines.filter(pl.col("chrgitm_lv") == "01")
    assert (lv1["preselfpay_amt"] == 0).all() and (lv1["fulamt_ownpay_amt"] == 0).all()
    sums = lines.group_by("setl_id").agg(pl.col(c).sum() for c in LINE_TO_SETTLEMENT_FIELD)
    joined = s.join(sums, on="setl_id", how="left", suffix="_lines")
    assert joined["det_item_fee_sumamt"].null_count() == 0, "every settlement has fee lines"
    for line_field, setl_field in LINE_TO_SETTLEMENT_FIELD.items():
        assert (joined[line_field] == joined[setl_field]).all(), line_field
    assert set(lines["chrgitm_lv"].unique()) == {"01", "02", "03"}
    assert 2.5 <= lines.height / s.height <= 4.0
    assert lines.select(pl.struct("setl_id", "feedetl_sn").is_unique().all()).item()


def _drug_settlements(city: City) -> pl.Series:
    """setl_ids with a line of one of the plan's high-cost drugs."""
    lines = city.fee_lines
    assert lines is not None
    drug_codes = [c for codes in city.drug_catalogs.values() for c in codes]
    return lines.filter(pl.col("med_list_codg").is_in(drug_codes))["setl_id"].unique()


def test_high_cost_drugs_from_the_plan_catalogs(city: City, s: pl.DataFrame) -> None:
    assert city.drug_catalogs
    with_drug = s.filter(pl.col("setl_id").is_in(_drug_settlements(city).implode()))
    # Bought at a designated pharmacy (41), at a chronic-disease visit (14), now and then during a stay.
    assert {"41", "14"} <= set(with_drug["med_type"])
    at_pharmacy = with_drug.filter(pl.col("med_type") == "41")
    assert at_pharmacy["fixmedins_code"].str.starts_with("P").all()


def test_prescriber_only_for_pharmacy_purchases(city: City, s: pl.DataFrame) -> None:
    shop = s["med_type"] == "41"
    assert shop.any()
    assert (s["rx_fixmedins_code"].is_not_null() == shop).all()
    rx = s.filter(shop)["rx_fixmedins_code"]
    assert rx.str.starts_with("H").all()  # a hospital prescribed, a pharmacy dispensed
    assert set(rx) <= set(city.institutions["fixmedins_code"])
    # High-cost drugs are prescribed at county-level or higher hospitals (the plan's catalog), nearly always.
    county_up = set(city.institutions.filter(pl.col("county_or_higher"))["fixmedins_code"])
    drugs = s.filter(shop & pl.col("setl_id").is_in(_drug_settlements(city).implode()))
    share = drugs["rx_fixmedins_code"].is_in(list(county_up)).mean()
    assert share is not None and share >= 0.85


def test_critical_illness_scope_follows_the_year(city: City, s: pl.DataFrame) -> None:
    """hifmi_inscp_scp_amt: the part of a resident's in-scope self-pay (after the pooled fund and the
    large-amount subsidy) above the year's threshold; critical-illness insurance pays its ratio of it."""
    ci = profile_data("371500", "liaocheng-2024")[0]["basic_insurance"]["critical_illness"]
    threshold, ratio_bp = round(ci["threshold"] * 100), round(float(ci["ratio"].rstrip("%")) * 100)
    p = _signed(s)
    assert p["hifmi_inscp_scp_amt"].null_count() == 0 and p["hifmi_inscp_scp_amt"].min() == 0
    assert p.filter((pl.col("insutype") == "310") & (pl.col("hifmi_inscp_scp_amt") != 0)).is_empty()
    expected_pay = ((pl.col("hifmi_inscp_scp_amt") * ratio_bp + 5_000) // 10_000).clip(
        upper_bound=round(ci["cap"] * 100)
    )
    assert p.filter(pl.col("hifmi_pay") != expected_pay).is_empty()
    drugs = _drug_settlements(city).implode()
    serious = pl.col("med_type").is_in(["14", "21"]) | pl.col("setl_id").is_in(drugs)
    orig = s.filter((pl.col("refd_setl_flag") == "0") & (pl.col("insutype") == "390")).with_columns(
        pl.when(serious)
        .then(pl.col("inscp_scp_amt") - pl.col("hifp_pay") - pl.col("hifob_pay"))
        .otherwise(0)
        .alias("own")
    )
    assert orig.filter(~serious & (pl.col("hifmi_inscp_scp_amt") != 0)).is_empty()
    # In settlement order, each resident's scope so far = what the year's self-pay so far exceeds the threshold by.
    run = orig.with_columns(
        pl.col("own").cum_sum().over("psn_no").alias("own_ytd"),
        pl.col("hifmi_inscp_scp_amt").cum_sum().over("psn_no").alias("scope_ytd"),
    )
    assert run.filter(pl.col("scope_ytd") != (pl.col("own_ytd") - threshold).clip(lower_bound=0)).is_empty()
    assert run.filter(pl.col("scope_ytd") > 0).height > 0


def test_drug_catalog_argument() -> None:
    c = generate_city("quzhou-2021", 5000, seed=2, drug_catalogs={"mine": ["XTEST0001", "XTEST0002"]})
    assert c.fee_lines is not None
    used = set(c.fee_lines.filter(pl.col("med_list_codg").str.starts_with("XTEST"))["med_list_codg"])
    assert used and used <= {"XTEST0001", "XTEST0002"}


@pytest.fixture(scope="module")
def big() -> City:
    return generate_city("liaocheng-2024", 20_000, seed=3, fee_lines=False)


def test_costs_are_heavy_tailed(big: City) -> None:
    """Stays as the national bulletins describe them (calibration.py): about 0.21 a person-year for census
    ages (more for a plan's older buyers), about 10,000 yuan on average at Liaocheng's cost level, most far
    below the mean and a few above 100,000 yuan."""
    s = big.settlements
    stays = s.filter((pl.col("med_type") == "21") & (pl.col("refd_setl_flag") == "0"))["medfee_sumamt"]
    assert 0.20 <= stays.len() / big.roster.height <= 0.32
    mean, median = stays.mean(), stays.median()
    assert mean is not None and median is not None
    assert 700_000 <= mean <= 1_400_000 and median < 0.85 * mean
    assert 0.003 <= (stays > 5_000_000).mean() <= 0.05  # type: ignore[operator]
    assert stays.max() > 10_000_000  # type: ignore[operator]
    shares = s["med_type"].value_counts(normalize=True).to_dict(as_series=False)
    share = dict(zip(shares["med_type"], shares["proportion"], strict=True))
    assert 0.03 <= share["21"] <= 0.08 and share["11"] > 0.45 and share["14"] > 0.05 and 0.1 <= share["41"] <= 0.35


def test_records_follow_the_rates_not_the_count() -> None:
    """Asking for more records adds ordinary visits, not stays; asking for too few thins the year and says so."""
    few = generate_city("zibo-2022", 2000, seed=4, records=9000, fee_lines=False)
    many = generate_city("zibo-2022", 2000, seed=4, records_per_person=8, fee_lines=False)
    thin = generate_city("zibo-2022", 2000, seed=4, records=300, fee_lines=False)
    assert (few.settlements.height, many.settlements.height, thin.settlements.height) == (9000, 16000, 300)
    assert few.manifest["calibrated"] and many.manifest["calibrated"] and not thin.manifest["calibrated"]

    def stays(c: City) -> int:
        return c.settlements.filter(pl.col("med_type") == "21").height

    assert abs(stays(many) - stays(few)) <= 0.1 * stays(few)
    assert stays(thin) < stays(few) / 2
    with pytest.raises(ValueError, match="参保人数"):
        generate_city("zibo-2022", 0)


def test_refunds_negate_an_earlier_original(city: City, s: pl.DataFrame) -> None:
    ref = s.filter(pl.col("refd_setl_flag") == "1")
    assert 0.015 <= ref.height / s.height <= 0.025
    assert s.filter(pl.col("refd_setl_flag") == "0")["init_setl_id"].null_count() == s.height - ref.height
    orig = s.filter(pl.col("refd_setl_flag") == "0")
    pair = ref.join(orig, left_on="init_setl_id", right_on="setl_id", suffix="_o", how="left")
    assert pair["psn_no_o"].null_count() == 0
    assert (pair["psn_no"] == pair["psn_no_o"]).all()
    assert (pair["mdtrt_id"] == pair["mdtrt_id_o"]).all()
    assert (pair["setl_time"] > pair["setl_time_o"]).all()
    for c in (*SETTLEMENT_AMOUNTS, *OPTIONAL_AMOUNTS):
        assert (pair[c] == -pair[f"{c}_o"]).all(), c
    assert ref["init_setl_id"].n_unique() == ref.height
    lines = city.fee_lines
    assert lines is not None
    amounts = list(LINE_TO_SETTLEMENT_FIELD)
    r_lines = lines.join(ref.select("setl_id", "init_setl_id"), on="setl_id")
    o_lines = lines.rename({"setl_id": "init_setl_id"}).filter(
        pl.col("init_setl_id").is_in(ref["init_setl_id"].implode())
    )
    both = r_lines.join(o_lines, on=["init_setl_id", "feedetl_sn"], how="full", suffix="_o")
    assert both["setl_id"].null_count() == 0 and both["feedetl_sn_o"].null_count() == 0
    assert (both["med_list_codg"] == both["med_list_codg_o"]).all()
    assert (both["chrgitm_lv"] == both["chrgitm_lv_o"]).all()
    for c in amounts:
        assert (both[c] == -both[f"{c}_o"]).all(), c


def test_dates_within_cover_year(s: pl.DataFrame) -> None:
    start, end = date(2024, 1, 1), date(2024, 12, 31)
    assert s["begndate"].min() >= start and s["enddate"].max() <= end
    assert (s["begndate"] <= s["enddate"]).all()
    assert s["setl_time"].max() < datetime(2025, 1, 1)
    orig = s.filter(pl.col("refd_setl_flag") == "0")
    assert (orig["setl_time"].dt.date() == orig["enddate"]).all()
    assert s["setl_time"].is_sorted()
    assert (s.filter(pl.col("med_type") != "21")["begndate"] == s.filter(pl.col("med_type") != "21")["enddate"]).all()


def test_roster_identity_numbers(city: City) -> None:
    r = city.roster
    assert certnos_valid(r["certno"]).all()
    assert r["certno"].n_unique() == r.height
    counties = {c for c, _ in profile_data("371500", "liaocheng-2024")[0]["counties"]}
    assert set(r["certno"].str.slice(0, 6).unique()) <= counties
    assert set(r["insu_admdvs"].unique()) <= counties
    odd = r["certno"].str.slice(16, 1).cast(pl.Int32) % 2 == 1
    assert ((r["gend"] == "1") == odd).all()
    assert (r["certno"].str.slice(6, 8) == r["birth_date"].dt.strftime("%Y%m%d")).all()
    ages = (date(2024, 1, 1) - r["birth_date"]).dt.total_days() / 365.25
    assert ages.min() >= 0 and ages.max() <= 97
    # A plan's buyers are older than the census (calibration.TAKE_UP_BY_AGE): about 30 % are 60 or older.
    assert 0.24 <= (ages >= 60).mean() <= 0.34  # type: ignore[operator]
    employee = (r["insutype"] == "310").mean()
    assert employee is not None and 0.25 <= employee <= 0.35


def test_roster_phones_for_a_share_of_adults(city: City) -> None:
    """The demo's people have mobiles to be reached on: valid numbers for about 60 % of those 16 or over,
    none for children; drawn after the rest, so the roster's other columns are unchanged by them."""
    r = city.roster
    age = (date(2024, 1, 1) - r["birth_date"]).dt.total_days() / 365.25
    phones = r["phone"].drop_nulls()
    assert phones.str.contains(PHONE_PATTERN).all()
    assert r.filter(age < 15.9)["phone"].null_count() == (age < 15.9).sum()
    share = r.filter(age >= 16.1)["phone"].is_not_null().mean()
    assert share is not None and 0.5 <= share <= 0.7


def test_roster_conditions_and_tags(city: City) -> None:
    r = city.roster
    pre = (r["preexisting"].list.len() > 0).mean()
    assert pre is not None and 0.07 <= pre <= 0.14
    # Liaocheng's profile: 3 % of residents lifted out of poverty, employees at 15 % of that.
    poverty = r["populations"].list.contains("poverty_alleviated").mean()
    assert poverty is not None and 0.012 <= poverty <= 0.035
    known = {t for tags in r["populations"] for t in tags}
    assert known <= {"poverty_alleviated", "veteran", "extreme_hardship", "low_income"}
    assert r["tier"].null_count() == r.height  # one-tier plan


def test_tiers_of_a_two_tier_plan() -> None:
    r = generate_city("zibo-2022", 3000, seed=5, records_per_person=1, fee_lines=False).roster
    assert set(r["tier"].unique()) == {"basic", "upgraded"}
    upgraded = (r["tier"] == "upgraded").mean()
    # Zibo's profile: 75 % of free choosers keep the basic tier, 35 % of people with a pre-existing
    # condition take the upgraded one, and people lifted out of poverty all get it.
    assert upgraded is not None and 0.22 <= upgraded <= 0.36
    sick = r.filter(pl.col("preexisting").list.len() > 0)
    assert (sick["tier"] == "upgraded").mean() > upgraded  # type: ignore[operator]
    poor = r.filter(pl.col("populations").list.contains("poverty_alleviated"))
    assert poor.height > 0 and (poor["tier"] == "upgraded").all()


def test_out_of_area_shares(big: City) -> None:
    """calibration.OUT_OF_CITY / OUT_OF_PROVINCE (8 % / 4 % of stays, twice that for a serious illness,
    which is most stays' share of cost) and OUT_OF_AREA_FILED (80 %)."""
    c = big
    stays = c.settlements.filter((pl.col("med_type") == "21") & (pl.col("refd_setl_flag") == "0"))
    city_prefix = stays["mdtrt_area_admvs"].str.slice(0, 4)
    out_city = (city_prefix != "3715") & stays["mdtrt_area_admvs"].str.starts_with("37")
    out_prov = ~stays["mdtrt_area_admvs"].str.starts_with("37")
    assert 0.10 <= out_city.mean() <= 0.17  # type: ignore[operator]
    assert 0.045 <= out_prov.mean() <= 0.09  # type: ignore[operator]
    away = stays.filter(out_city | out_prov)
    assert 0.72 <= away["out_area_filed"].mean() <= 0.88  # type: ignore[operator]
    assert not stays.filter(~(out_city | out_prov))["out_area_filed"].any()
    inst = c.institutions
    known = set(inst["fixmedins_code"])
    assert set(c.settlements["fixmedins_code"].unique()) <= known


def test_deterministic_and_fee_lines_optional() -> None:
    a = generate_city("zibo-2022", 300, seed=11)
    b = generate_city("zibo-2022", 300, seed=11)
    c = generate_city("zibo-2022", 300, seed=11, fee_lines=False)
    d = generate_city("zibo-2022", 300, seed=12)
    assert a.roster.equals(b.roster) and a.settlements.equals(b.settlements)
    assert a.fee_lines is not None and b.fee_lines is not None and a.fee_lines.equals(b.fee_lines)
    assert c.fee_lines is None and c.settlements.equals(a.settlements)
    assert not d.settlements.equals(a.settlements)


def test_write_city_csv_and_parquet(tmp_path) -> None:  # type: ignore[no-untyped-def]
    c = generate_city("liaocheng-2022", 200, seed=4)
    files = write_city(c, tmp_path, fmt="both")
    names = {f.name for f in files}
    assert {"roster.csv", "roster.parquet", "settlements.csv", "settlements.parquet"} <= names
    assert {"fee_lines.csv", "fee_lines.parquet", "institutions.csv", "manifest.json"} <= names
    text = pl.read_csv(tmp_path / "settlements.csv", infer_schema=False)
    assert text["medfee_sumamt"].to_list() == [to_yuan(v) for v in c.settlements["medfee_sumamt"]]
    assert text["diseases"].to_list() == [";".join(d) for d in c.settlements["diseases"]]
    assert set(text["refd_setl_flag"]) <= {"0", "1"}
    pq = pl.read_parquet(tmp_path / "settlements.parquet")
    assert pq.schema["medfee_sumamt"] == pl.Decimal(18, 2)
    back = (pq["inscp_scp_amt"] * 100).cast(pl.Int64)
    assert back.to_list() == c.settlements["inscp_scp_amt"].to_list()
    roster = pl.read_csv(tmp_path / "roster.csv", infer_schema=False)
    assert roster["certno"].to_list() == c.roster["certno"].to_list()
    manifest = json.loads((tmp_path / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["plan_id"] == "liaocheng-2022" and manifest["seed"] == 4
    assert manifest["counts"]["settlements"] == c.settlements.height
    total = c.settlements["medfee_sumamt"].sum()
    assert manifest["settlement_totals_yuan"]["medfee_sumamt"] == to_yuan(total)
    inst = pl.read_csv(tmp_path / "institutions.csv")
    assert {"fixmedins_code", "county_or_higher", "kind"} <= set(inst.columns)


def test_unknown_plan() -> None:
    with pytest.raises(KeyError):
        generate_city("atlantis-2024", 10)


def test_refund_timing_at_year_end() -> None:
    c = generate_city("quzhou-2021", 2000, seed=9, fee_lines=False)
    last = c.settlements["setl_time"].max()
    assert last is not None and last < datetime(2022, 1, 1)
    assert last - datetime(2021, 12, 31) < timedelta(days=1)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_files_read_back_through_the_platform_readers(tmp_path, fmt: str) -> None:  # type: ignore[no-untyped-def]
    io = pytest.importorskip("huiminbao.settlement.io")
    c = generate_city("zibo-2022", 300, seed=6)
    write_city(c, tmp_path, fmt=fmt)  # type: ignore[arg-type]
    assert io.read_settlements(tmp_path / f"settlements.{fmt}").equals(c.settlements)
    assert c.fee_lines is not None
    assert io.read_fee_lines(tmp_path / f"fee_lines.{fmt}").equals(c.fee_lines)
    assert io.read_insured(tmp_path / f"roster.{fmt}").select(c.insured.columns).equals(c.insured)


def _synth_app():  # type: ignore[no-untyped-def]
    import typer

    from huiminbao.cli import synth as synth_cli

    app = typer.Typer()
    app.command()(synth_cli.synth)
    return app


def test_cli(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    out = tmp_path / "city"
    args = ["--plan", "quzhou-2021", "--persons", "50", "--out", str(out), "--fmt", "csv", "--no-fee-lines"]
    result = CliRunner().invoke(_synth_app(), [*args, "--records", "333"])
    assert result.exit_code == 0, result.output
    assert (out / "settlements.csv").exists() and not (out / "fee_lines.csv").exists()
    counts = json.loads((out / "manifest.json").read_text(encoding="utf-8"))["counts"]
    assert (counts["persons"], counts["settlements"]) == (50, 333)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--plan", "nowhere-2020", "--persons", "5"], "--plan：未知方案 nowhere-2020"),
        (["--plan", "quzhou-2021", "--persons", "0"], "--persons：参保人数须为正整数，收到 0"),
        (["--plan", "quzhou-2021", "--persons", "-3"], "--persons：参保人数须为正整数，收到 -3"),
        (["--plan", "quzhou-2021", "--persons", "5", "--records-per-person", "-1"], "--records-per-person："),
        (["--plan", "quzhou-2021", "--persons", "5", "--records", "-1"], "--records：结算记录数不能为负，收到 -1"),
        (["--plan", "quzhou-2021", "--persons", "5", "--records", "9", "--records-per-person", "2"], "--records：与"),
        (["--plan", "quzhou-2021", "--persons", "5", "--fmt", "xlsx"], "--fmt：输出格式须为 parquet、csv、both 之一"),
    ],
)
def test_cli_bad_input_is_one_line(tmp_path, args: list[str], message: str) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    result = CliRunner().invoke(_synth_app(), [*args, "--out", str(tmp_path / "new")])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [result.output.strip()]  # one line, no traceback
    assert result.output.startswith(message)
    assert not (tmp_path / "new").exists()


def test_cli_never_overwrites_without_force(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    runner = CliRunner()
    a_file = tmp_path / "notes.txt"
    a_file.write_text("mine", encoding="utf-8")
    result = runner.invoke(_synth_app(), ["--plan", "quzhou-2021", "--persons", "20", "--out", str(a_file)])
    assert (
        result.exit_code == 2 and result.output.strip() == f"--out：{a_file} 已存在且是文件，不是目录；请换一个输出目录"
    )
    assert a_file.read_text(encoding="utf-8") == "mine"

    out = tmp_path / "city"
    first = ["--plan", "quzhou-2021", "--persons", "20", "--out", str(out), "--fmt", "both"]
    assert runner.invoke(_synth_app(), first).exit_code == 0
    (out / "mine.txt").write_text("keep", encoding="utf-8")
    again = ["--plan", "quzhou-2021", "--persons", "30", "--out", str(out), "--no-fee-lines"]
    result = runner.invoke(_synth_app(), again)
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1
    assert f"--out：目录 {out} 已存在且不为空" in result.output and "--force" in result.output
    assert json.loads((out / "manifest.json").read_text(encoding="utf-8"))["counts"]["persons"] == 20

    result = runner.invoke(_synth_app(), [*again, "--force"])
    assert result.exit_code == 0, result.output
    assert json.loads((out / "manifest.json").read_text(encoding="utf-8"))["counts"]["persons"] == 30
    # The earlier run's files go, so nothing on disk disagrees with the new manifest; other files stay.
    assert not (out / "fee_lines.parquet").exists() and not (out / "settlements.csv").exists()
    assert (out / "mine.txt").read_text(encoding="utf-8") == "keep"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert runner.invoke(_synth_app(), ["--plan", "quzhou-2021", "--persons", "5", "--out", str(empty)]).exit_code == 0


def test_city_of_a_sample_writes_its_own_counts(city: City, tmp_path) -> None:  # type: ignore[no-untyped-def]
    who = city.roster["psn_no"].head(100).implode()
    s = city.settlements.filter(pl.col("psn_no").is_in(who))
    assert city.fee_lines is not None
    sub = City(
        roster=city.roster.filter(pl.col("psn_no").is_in(who)),
        settlements=s,
        fee_lines=city.fee_lines.filter(pl.col("setl_id").is_in(s["setl_id"].implode())),
        institutions=city.institutions,
        manifest=city.manifest,
    )
    write_city(sub, tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["counts"]["persons"] == 100 and manifest["counts"]["settlements"] == s.height
    assert manifest["seed"] == 7 and manifest["plan_id"] == "liaocheng-2024"


def _premiums(plan_id: str, insured: pl.DataFrame) -> pl.DataFrame:
    """Each person's tier (null: the plan's default) and premium in fen, read from the plan file: the
    tier's premium for a population the person belongs to, else its general premium."""
    plan = compiled_plan(plan_id).plan
    default = plan.default_tier or plan.tiers[0].id
    out = insured.select("psn_no", "populations", pl.col("tier").fill_null(default))
    tier, tags = pl.col("tier"), pl.col("populations")
    rules = [
        ((tier == t.id) & tags.list.contains(p.population), p.amount)
        for t in plan.tiers
        for p in t.premiums
        if p.population
    ]
    rules += [(tier == t.id, next(p.amount for p in t.premiums if p.population is None)) for t in plan.tiers]
    premium = pl.when(rules[0][0]).then(rules[0][1])
    for cond, amount in rules[1:]:
        premium = premium.when(cond).then(amount)
    return out.with_columns(premium.otherwise(None).alias("premium"))


def _year(plan_id: str, persons: int, seed: int) -> dict[str, tuple[int, int, int, int]]:
    """Per tier: persons, persons paid (net payout of the year > 0), total payout and premium (fen)."""
    city = generate_city(plan_id, persons, seed=seed)
    result = adjudicate(compiled_plan(plan_id), city.settlements, city.insured, city.fee_lines, all_lines=False)
    paid = result.settlements.group_by("psn_no").agg(pl.col("payout").sum())
    people = (
        _premiums(plan_id, city.insured).join(paid, on="psn_no", how="left").with_columns(pl.col("payout").fill_null(0))
    )
    assert people.filter(pl.col("payout") < 0).is_empty()
    return {
        tier: (g.height, g.filter(pl.col("payout") > 0).height, int(g["payout"].sum()), int(g["premium"].sum()))
        for (tier,), g in people.group_by(["tier"])
    }


def test_a_small_year_through_the_engine() -> None:
    """Structure on a small city: every record is the plan's, nobody ends the year owing, a few are paid."""
    city = generate_city("liaocheng-2024", 3000, seed=11)
    result = adjudicate(compiled_plan("liaocheng-2024"), city.settlements, city.insured, city.fee_lines)
    assert set(result.settlements["status"].cast(pl.Utf8)) == {"covered"}
    paid = result.lines.filter(pl.col("payout") > 0)["liability"].unique().to_list()
    assert "inpatient_inscope" in paid
    (persons, n_paid, payout, premium) = _year("liaocheng-2024", 3000, 11)["standard"]
    assert (persons, premium) == (3000, 3000 * 8900)
    assert 0 < n_paid < 0.05 * persons and payout > 0


@pytest.mark.slow
@pytest.mark.parametrize("plan_id", CALIBRATED_PLANS)
def test_a_year_looks_like_a_published_huiminbao_year(plan_id: str) -> None:
    """200,000 insured: published 惠民保 years pay about 1-3 % of their insured with loss ratios of about
    60-100 % (Liaocheng's floor is 80 %, seed 001); each tier lands within 1-3 % and 50-110 % at its own
    premiums (Zibo's amounts are illustrative)."""
    for tier, (persons, n_paid, payout, premium) in _year(plan_id, 200_000, seed=2024).items():
        assert 0.01 <= n_paid / persons <= 0.03, (tier, n_paid / persons)
        assert 0.50 <= payout / premium <= 1.10, (tier, payout / premium)


def test_a_city_in_parts_is_one_city(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """``generate_parts``/``write_parts`` (``hmb synth --part-persons``): a city too large for memory is made
    and written a part at a time, and the files read as one city: ids distinct across parts, ID numbers
    valid and distinct, refunds naming their own person's earlier settlement, the manifest's counts and
    control totals the sums of the rows written, and the engine pays it."""
    from huiminbao.synth import generate_parts, write_parts

    files, manifest = write_parts(
        generate_parts("liaocheng-2024", 3001, seed=5, records=12_000, part_persons=1000), tmp_path, "both"
    )
    io = pytest.importorskip("huiminbao.settlement.io")
    roster = pl.read_parquet(tmp_path / "roster.parquet")
    setl = io.read_settlements(tmp_path / "settlements.parquet")
    lines = io.read_fee_lines(tmp_path / "fee_lines.parquet")
    assert manifest["parts"] == 4 and manifest["persons"] == roster.height == 3001
    assert manifest["counts"]["settlements"] == setl.height == 12_000  # type: ignore[index]
    assert manifest["counts"]["fee_lines"] == lines.height  # type: ignore[index]
    assert roster["psn_no"].n_unique() == 3001 and roster["certno"].n_unique() == 3001
    assert certnos_valid(roster["certno"]).all()
    assert setl["setl_id"].n_unique() == setl.height and setl["psn_no"].is_in(roster["psn_no"].implode()).all()
    assert lines["setl_id"].is_in(setl["setl_id"].implode()).all()
    refunds = setl.filter(pl.col("refd_setl_flag") == "1")
    assert refunds.height > 100
    originals = refunds.join(setl, left_on="init_setl_id", right_on="setl_id", suffix="_o")
    assert originals.height == refunds.height and (originals["psn_no"] == originals["psn_no_o"]).all()
    sums = setl.select(pl.col(c).sum() for c in SETTLEMENT_AMOUNTS).row(0, named=True)
    assert manifest["settlement_totals_yuan"] == {k: to_yuan(int(v)) for k, v in sums.items()}
    assert io.read_settlements(tmp_path / "settlements.csv").equals(setl)
    assert [f.name for f in files][:2] == ["roster.csv", "roster.parquet"]
    paid = adjudicate(compiled_plan("liaocheng-2024"), setl, io.read_insured(tmp_path / "roster.parquet"), lines)
    assert (paid.settlements["payout"] > 0).sum() > 50
    one = generate_parts("liaocheng-2024", 300, seed=5, records=900, part_persons=1000)
    assert next(one).settlements.equals(generate_city("liaocheng-2024", 300, seed=5, records=900).settlements)
