"""The synthetic city: every identity of the national record holds exactly, on every row."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta

import polars as pl
import pytest

from huiminbao.identity.certno import certnos_valid
from huiminbao.money import to_yuan
from huiminbao.synth import City, generate_city, write_city
from huiminbao.synth.profile import COUNTIES
from huiminbao.vocabulary import (
    COST_PARTS,
    FEE_LINE_SCHEMA,
    FUND_FIELDS,
    INSURED_SCHEMA,
    LINE_TO_SETTLEMENT_FIELD,
    SETTLEMENT_AMOUNTS,
    SETTLEMENT_SCHEMA,
)

PERSONS = 4000


@pytest.fixture(scope="module")
def city() -> City:
    return generate_city("liaocheng-2024", PERSONS, seed=7)


@pytest.fixture(scope="module")
def s(city: City) -> pl.DataFrame:
    return city.settlements


def _signed(s: pl.DataFrame) -> pl.DataFrame:
    """Amounts with refunds turned back positive, so inequalities read the same for both."""
    sign = pl.when(pl.col("refd_setl_flag") == "1").then(-1).otherwise(1)
    return s.with_columns(pl.col(c) * sign for c in SETTLEMENT_AMOUNTS)


def test_schemas(city: City) -> None:
    assert city.settlements.schema == pl.Schema(SETTLEMENT_SCHEMA)
    assert city.fee_lines is not None
    assert city.fee_lines.schema == pl.Schema(FEE_LINE_SCHEMA)
    assert city.insured.schema == pl.Schema(INSURED_SCHEMA)
    assert city.settlements.height == PERSONS * 5
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
    assert p.filter(pl.col("fund_pay_sumamt") > pl.col("inscp_scp_amt") - pl.col("act_pay_dedc")).height == 0
    assert p.filter(pl.col("medfee_sumamt") <= 0).height == 0
    # Funds by insurance type: critical illness for residents, large-amount subsidy and
    # the personal account for employees.
    assert p.filter((pl.col("insutype") == "310") & (pl.col("hifmi_pay") > 0)).height == 0
    assert p.filter((pl.col("insutype") == "390") & (pl.col("hifob_pay") > 0)).height == 0
    assert p.filter((pl.col("insutype") == "390") & (pl.col("acct_pay") > 0)).height == 0
    assert p.filter(pl.col("hifmi_pay") > 0).height > 0
    # the critical-illness scope covers what critical illness (or the large-amount subsidy) paid
    ci = pl.col("hifmi_inscp_scp_amt")
    assert p.filter(ci < pl.col("hifmi_pay") + pl.col("hifob_pay")).height == 0
    assert p.filter((ci > 0) & (pl.col("insutype") == "390")).height > 0
    assert p.filter(pl.col("acct_pay") > 0).height > 0


def test_assistance_only_for_assisted_people(city: City, s: pl.DataFrame) -> None:
    tags = city.roster.select("psn_no", "populations")
    paid = s.filter(pl.col("maf_pay") != 0).join(tags, on="psn_no")
    assert paid.height > 0
    assisted = paid["populations"].list.set_intersection(["poverty_lifted", "low_income"]).list.len() > 0
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


def test_high_cost_drugs_from_the_plan_catalogs(city: City, s: pl.DataFrame) -> None:
    lines = city.fee_lines
    assert lines is not None
    drug_codes = {c for codes in city.drug_catalogs.values() for c in codes}
    assert drug_codes
    with_drug = lines.filter(pl.col("med_list_codg").is_in(list(drug_codes)))
    med = with_drug.join(s.select("setl_id", "med_type"), on="setl_id")["med_type"].unique().to_list()
    assert {"21", "14"} <= set(med)


def test_drug_catalog_argument() -> None:
    c = generate_city("quzhou-2021", 500, seed=2, drug_catalogs={"mine": ["XTEST0001", "XTEST0002"]})
    assert c.fee_lines is not None
    used = set(c.fee_lines.filter(pl.col("med_list_codg").str.starts_with("XTEST"))["med_list_codg"])
    assert used and used <= {"XTEST0001", "XTEST0002"}


def test_costs_are_heavy_tailed(s: pl.DataFrame) -> None:
    stays = _signed(s).filter((pl.col("med_type") == "21") & (pl.col("refd_setl_flag") == "0"))
    q = stays["medfee_sumamt"].quantile(0.5)
    assert q is not None and 300_000 <= q <= 3_000_000  # median 3k..30k yuan
    assert stays["medfee_sumamt"].max() > 10_000_000  # some stays above 100k yuan
    shares = s["med_type"].value_counts(normalize=True).to_dict(as_series=False)
    share = dict(zip(shares["med_type"], shares["proportion"], strict=True))
    assert 0.03 <= share["21"] <= 0.05 and share["11"] > 0.6 and share["14"] > 0.03  # 0.2 stays a person a year


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
    for c in SETTLEMENT_AMOUNTS:
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
    counties = {c for c, _ in COUNTIES["371500"]}
    assert set(r["certno"].str.slice(0, 6).unique()) <= counties
    assert set(r["insu_admdvs"].unique()) <= counties
    odd = r["certno"].str.slice(16, 1).cast(pl.Int32) % 2 == 1
    assert ((r["gend"] == "1") == odd).all()
    assert (r["certno"].str.slice(6, 8) == r["birth_date"].dt.strftime("%Y%m%d")).all()
    ages = (date(2024, 1, 1) - r["birth_date"]).dt.total_days() / 365.25
    assert ages.min() >= 0 and ages.max() <= 97
    employee = (r["insutype"] == "310").mean()
    assert employee is not None and 0.25 <= employee <= 0.35


def test_roster_conditions_and_tags(city: City) -> None:
    r = city.roster
    pre = (r["preexisting"].list.len() > 0).mean()
    assert pre is not None and 0.05 <= pre <= 0.11
    poverty = r["populations"].list.contains("poverty_lifted").mean()
    assert poverty is not None and 0.015 <= poverty <= 0.045
    assert r["tier"].null_count() == r.height  # one-tier plan


def test_tiers_of_a_two_tier_plan() -> None:
    r = generate_city("zibo-2022", 3000, seed=5, records_per_person=1, fee_lines=False).roster
    assert set(r["tier"].unique()) == {"basic", "upgraded"}
    upgraded = (r["tier"] == "upgraded").mean()
    assert upgraded is not None and 0.25 <= upgraded <= 0.38
    poor = r.filter(pl.col("populations").list.contains("poverty_lifted"))
    assert poor.height > 0 and (poor["tier"] == "upgraded").all()


def test_out_of_area_shares() -> None:
    c = generate_city("liaocheng-2024", 20_000, seed=3, fee_lines=False)
    stays = c.settlements.filter((pl.col("med_type") == "21") & (pl.col("refd_setl_flag") == "0"))
    city_prefix = stays["mdtrt_area_admvs"].str.slice(0, 4)
    out_city = (city_prefix != "3715") & stays["mdtrt_area_admvs"].str.starts_with("37")
    out_prov = ~stays["mdtrt_area_admvs"].str.starts_with("37")
    assert 0.02 <= out_city.mean() <= 0.04  # type: ignore[operator]
    assert 0.012 <= out_prov.mean() <= 0.028  # type: ignore[operator]
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


def test_cli(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import typer
    from typer.testing import CliRunner

    from huiminbao.cli import synth as synth_cli

    app = typer.Typer()
    app.command()(synth_cli.synth)
    args = ["--plan", "quzhou-2021", "--persons", "50", "--out", str(tmp_path), "--fmt", "csv", "--no-fee-lines"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "settlements.csv").exists() and not (tmp_path / "fee_lines.csv").exists()
    assert json.loads((tmp_path / "manifest.json").read_text(encoding="utf-8"))["counts"]["persons"] == 50
    bad = CliRunner().invoke(app, ["--plan", "nowhere-2020", "--persons", "5", "--out", str(tmp_path / "x")])
    assert bad.exit_code == 2 and "没有方案 nowhere-2020" in bad.output
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 2 and "已有合成数据" in again.output and "--force" in again.output
    assert CliRunner().invoke(app, [*args, "--force"]).exit_code == 0
    a_file = tmp_path / "settlements.csv"
    onto_file = CliRunner().invoke(app, ["--plan", "quzhou-2021", "--persons", "5", "--out", str(a_file)])
    assert onto_file.exit_code == 2 and "不是文件夹" in onto_file.output and "Traceback" not in onto_file.output
    zero = CliRunner().invoke(app, ["--plan", "quzhou-2021", "--persons", "0", "--out", str(tmp_path / "y")])
    assert zero.exit_code == 2


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


@pytest.mark.slow
@pytest.mark.parametrize(
    ("plan_id", "incidence", "loss_ratio"),
    [
        # published schemes: 1–3 % of the insured paid, loss ratios mostly 60–100 % (see synth/settlements.py)
        ("liaocheng-2024", (0.01, 0.03), (0.6, 1.1)),
        ("liaocheng-2025", (0.008, 0.03), (0.55, 1.1)),
        ("quzhou-2021", (0.01, 0.03), (0.55, 1.1)),
        # Zibo's amounts are illustrative: its 20,000 deductible and the basic tier's exclusion pay fewer people
        ("zibo-2022", (0.005, 0.03), (0.55, 1.1)),
    ],
)
def test_a_synthetic_year_lands_in_published_ranges(plan_id: str, incidence: tuple, loss_ratio: tuple) -> None:
    from huiminbao.engine.adjudicate import adjudicate
    from huiminbao.plans import compiled_plan

    n = 100_000
    city = generate_city(plan_id, n, seed=11)
    compiled = compiled_plan(plan_id)
    result = adjudicate(compiled, city.settlements, city.insured, city.fee_lines, all_lines=False)
    paid = result.settlements.group_by("psn_no").agg(pl.col("payout").sum()).filter(pl.col("payout") > 0).height
    tiers = city.insured["tier"].fill_null(compiled.plan.tier().id)
    premium = sum(compiled.plan.tier(t).premiums[0].amount for t in tiers.to_list())
    assert incidence[0] <= paid / n <= incidence[1]
    assert loss_ratio[0] <= result.settlements["payout"].sum() / premium <= loss_ratio[1]
