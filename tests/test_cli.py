"""The CLI as its users run it: estimate, plan check/list/show, adjudicate on files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from huiminbao.cli.main import app

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "liaocheng-2024-two-stays.json"
runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args))


def test_estimate_prints_the_explanation_of_benefit():
    res = run("estimate", str(EXAMPLE))
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    # stay 1 leaves 10,000 in scope: all deductible; stay 2 adds 10,000: (20,000 − 16,000) × 80% = 3,200
    assert out["total_payout"] == "3200.00"
    assert [s["payout"] for s in out["settlements"]] == ["0.00", "3200.00"]
    line = next(x for x in out["settlements"][1]["lines"] if x["liability"] == "inpatient_inscope")
    assert line == {
        "liability": "inpatient_inscope",
        "name": "基本医疗保险范围内住院自付医疗费用",
        "base": "10000.00",
        "counted": "10000.00",
        "deductible_used": "6000.00",
        "ratio": "80%",
        "entitled": "3200.00",
        "payout": "3200.00",
        "reason": "扣除免赔额6000.00元；按80%赔付",
    }
    first = next(x for x in out["settlements"][0]["lines"] if x["liability"] == "inpatient_inscope")
    assert first["reason"] == "未达免赔额（本次10000.00元计入免赔额，年度免赔额尚余6000.00元）"


def _case(tmp_path: Path, mutate) -> Path:
    case = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    mutate(case)
    path = tmp_path / "case.json"
    path.write_text(json.dumps(case, ensure_ascii=False), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda c: c["settlements"][0].pop("inscp_scp_amt"),
            "结算 371500202403100001：缺少符合政策范围金额（inscp_scp_amt）",
        ),
        (
            lambda c: c["settlements"][0].update(hifp_pay="19999.00"),
            "结算 371500202403100001：基金支付总额（fund_pay_sumamt） 20000.00 应等于各项基金支出之和",
        ),
        (
            lambda c: c["settlements"][0].update(hifp_pay="-5.00"),
            "结算 371500202403100001：基本医疗保险统筹基金支出（hifp_pay） 为负数 -5.00",
        ),
        (
            lambda c: c["settlements"][1].update(medfee_sumamt="30000.01"),
            "结算 371500202406200002：医疗费总额（medfee_sumamt） 30000.01 应等于",
        ),
        (
            lambda c: c["settlements"][0].update(psn_cash_pay="-1.00", psn_part_amt="-1.00"),
            "个人负担总金额（psn_part_amt） 为负数 -1.00",
        ),
        (
            lambda c: c["settlements"][0].update(inscp_scp_amt="30000.001"),
            "符合政策范围金额（inscp_scp_amt）“30000.001”不是以元为单位、最多两位小数的金额",
        ),
        (lambda c: c.update(plan="atlantis-2024"), "没有方案 atlantis-2024"),
        (lambda c: c["person"].update(certno="110105194912310021"), "参保人 37150000000000000001：身份证号校验不通过"),
        (lambda c: c.update(plan="liaocheng-2022"), "缺少原文未给出的数字，不能用于理算"),
    ],
)
def test_estimate_refuses_bad_input_naming_the_record_and_field(tmp_path, mutate, expected):
    res = run("estimate", str(_case(tmp_path, mutate)))
    assert res.exit_code != 0
    assert expected in res.output
    assert "110105194912310021" not in res.output  # an ID number is never echoed in clear


def test_plan_check_names_file_and_field(tmp_path):
    good = ROOT / "src" / "huiminbao" / "plans" / "data" / "liaocheng-2024.yaml"
    bad = tmp_path / "bad.yaml"
    text = (
        good.read_text(encoding="utf-8")
        .replace("ratio: 80%", "ratio: 180%", 1)
        .replace("base: preselfpay_amt + fulamt_ownpay_amt", "base: preselfpay_amt + __import__('os')")
    )
    bad.write_text(text, encoding="utf-8")
    res = run("plan", "check", str(good), str(bad))
    assert res.exit_code == 1
    assert f"{good}: ok, plan liaocheng-2024" in res.output
    assert f"{bad}: tiers[0].liabilities[0].ratio" in res.output
    assert f"{bad}: tiers[0].liabilities[1].base" in res.output


def test_plan_check_reports_unknown_figures():
    res = run("plan", "check", str(ROOT / "src" / "huiminbao" / "plans" / "data" / "liaocheng-2022.yaml"))
    assert res.exit_code == 0
    assert "cannot adjudicate" in res.output and "免赔额" in res.output


def test_plan_list_and_show():
    res = run("plan", "list")
    assert res.exit_code == 0
    for plan_id in ("liaocheng-2022", "liaocheng-2024", "liaocheng-2025", "quzhou-2021", "zibo-2022"):
        assert plan_id in res.output
    shown = json.loads(run("plan", "show", "zibo-2022", "--json").stdout)
    assert shown["status"] == "illustrative"
    assert [t["id"] for t in shown["tiers"]] == ["basic", "upgraded"]
    assert run("plan", "show", "nowhere-2020").exit_code == 2


def test_adjudicate_files_end_to_end(tmp_path):
    """hmb synth writes a small city as CSV; hmb adjudicate pays it exactly as the engine does on frames."""
    import polars as pl

    from huiminbao.engine.adjudicate import adjudicate
    from huiminbao.plans import compiled_plan
    from huiminbao.synth import generate_city, write_city

    city = generate_city("liaocheng-2024", 2_000, seed=5)
    write_city(city, tmp_path, "csv")
    res = run(
        "adjudicate", "--plan", "liaocheng-2024", "--settlements", str(tmp_path / "settlements.csv"),
        "--fee-lines", str(tmp_path / "fee_lines.csv"), "--insured", str(tmp_path / "roster.csv"),
        "--out", str(tmp_path / "payouts.csv"), "--lines-out", str(tmp_path / "lines.csv"),
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "理算汇总" in res.output and "合计" in res.output
    got = pl.read_csv(tmp_path / "payouts.csv", infer_schema=False)
    assert got["payout"].str.contains(r"^-?\d+\.\d{2}$").all()
    expected = adjudicate(compiled_plan("liaocheng-2024"), city.settlements, city.insured, city.fee_lines).settlements
    want = {r["setl_id"]: r["payout"] for r in expected.iter_rows(named=True)}
    paid = {r["setl_id"]: round(float(r["payout"]) * 100) for r in got.iter_rows(named=True)}
    assert paid == want and sum(want.values()) > 0
    lines = pl.read_csv(tmp_path / "lines.csv", infer_schema=False)
    assert set(lines["ratio"]) <= {"80%", "10%"}

    text = (tmp_path / "settlements.csv").read_text(encoding="utf-8").splitlines()
    header = text[0].split(",")
    row = text[5].split(",")
    row[header.index("inscp_scp_amt")] = "12.345"
    (tmp_path / "settlements.csv").write_text(
        "\n".join([text[0], *text[1:5], ",".join(row), *text[6:]]), encoding="utf-8"
    )
    res = run(
        "adjudicate", "--plan", "liaocheng-2024", "--settlements", str(tmp_path / "settlements.csv"),
        "--insured", str(tmp_path / "roster.csv"), "--out", str(tmp_path / "again.csv"), "--no-fee-lines",
    )  # fmt: skip
    assert res.exit_code == 2
    assert f"结算 {row[header.index('setl_id')]}：符合政策范围金额（inscp_scp_amt）“12.345”" in res.output
    assert not (tmp_path / "again.csv").exists()  # nothing half-written
