"""``hmb adjudicate`` refuses batches that would be silently wrong and flags what it did not pay."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
from typer.testing import CliRunner

from huiminbao.cli.main import app
from tests.records import SD, drug, stay, write_csv

runner = CliRunner()


def city(tmp_path: Path, stays: list[dict[str, Any]], people: list[str]) -> list[str]:
    lines = [{"setl_id": s["setl_id"], **ln} for s in stays for ln in s.pop("feedetl", [])]
    for s in stays:
        s["psn_no"] = s.get("psn_no", "P1")
        s["diseases"] = ";".join(s.get("diseases", []))
    args = ["--settlements", str(write_csv(tmp_path / "s.csv", stays))]
    args += ["--insured", str(write_csv(tmp_path / "p.csv", [{"psn_no": p, "insutype": "390"} for p in people]))]
    if lines:
        args += ["--fee-lines", str(write_csv(tmp_path / "l.csv", lines))]
    return [*args, "--out", str(tmp_path / "out.csv")]


def test_a_plan_with_fee_line_liabilities_needs_fee_lines_or_the_operators_word(tmp_path):
    args = city(tmp_path, [stay(inscp=100_000, funds=60_000)], ["P1"])
    res = runner.invoke(app, ["adjudicate", "--plan", "liaocheng-2024", *args])
    assert res.exit_code == 2
    assert "--fee-lines" in res.output and "特定高额药品" in res.output
    assert not (tmp_path / "out.csv").exists()
    res = runner.invoke(app, ["adjudicate", "--plan", "liaocheng-2024", *args, "--no-fee-lines"])
    assert res.exit_code == 0, res.output
    assert pl.read_csv(tmp_path / "out.csv", infer_schema=False)["payout"].to_list() == ["19200.00"]


def payouts(tmp_path: Path) -> list[tuple[str, str, str]]:
    out = pl.read_csv(tmp_path / "out.csv", infer_schema=False).sort("setl_id")
    return out.select("setl_id", "status", "payout").rows()


def test_another_citys_or_years_records_are_refused_unless_confirmed(tmp_path):
    stays = [stay("S1", inscp=100_000, funds=60_000), stay("S2", day="2023-06-01", inscp=100_000, funds=60_000)]
    args = city(tmp_path, stays, ["P1"])
    res = runner.invoke(app, ["adjudicate", "--plan", "liaocheng-2024", *args, "--no-fee-lines"])
    assert res.exit_code == 2
    assert "1 条结算记录不属于方案 liaocheng-2024" in res.output and "S2" in res.output
    res = runner.invoke(app, ["adjudicate", "--plan", "liaocheng-2024", *args, "--no-fee-lines", "--allow-outside"])
    assert res.exit_code == 0, res.output
    assert payouts(tmp_path) == [("S1", "covered", "19200.00"), ("S2", "outside_cover", "0.00")]
    assert "就医开始日期不在保障期内" in res.output


def test_persons_missing_from_the_insured_file_are_flagged(tmp_path):
    stays = [stay("S1", inscp=100_000, funds=60_000), stay("S2", inscp=100_000, funds=60_000, psn_no="P2")]
    args = city(tmp_path, stays, ["P1"])
    res = runner.invoke(app, ["adjudicate", "--plan", "liaocheng-2024", *args, "--no-fee-lines"])
    assert res.exit_code == 0, res.output
    assert payouts(tmp_path) == [("S1", "covered", "19200.00"), ("S2", "not_insured", "0.00")]
    assert "1 条结算记录的参保人不在参保人文件中" in res.output


def test_the_explanation_output_carries_reasons(tmp_path):
    pharmacy = stay("S1", med_type="41", ownpay=50_000, fixmedins="P37150200001", feedetl=[drug(SD, ownpay=50_000)])
    args = city(tmp_path, [pharmacy, stay("S2", inscp=30_000, funds=20_000)], ["P1"])
    res = runner.invoke(
        app, ["adjudicate", "--plan", "liaocheng-2024", *args, "--lines-out", str(tmp_path / "lines.csv")]
    )
    assert res.exit_code == 0, res.output
    lines = pl.read_csv(tmp_path / "lines.csv", infer_schema=False)
    reasons = dict(zip(lines["setl_id"] + "/" + lines["liability"], lines["reason"], strict=True))
    assert reasons["S1/specific_drugs"] == "处方不是由县级及以上定点医疗机构的医生开具"
    assert reasons["S2/inpatient_inscope"].startswith("未达免赔额")
