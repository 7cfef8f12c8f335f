"""A year partitioned by person pays exactly what the in-memory run pays, resumes after a stop, and
refuses to mix runs (``scale.partition``, ``hmb adjudicate --memory-limit/--partitions``)."""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from huiminbao.cli.main import app
from huiminbao.engine.adjudicate import adjudicate, claimable_lines, settlement_columns
from huiminbao.money import to_fen
from huiminbao.plans import compiled_plan
from huiminbao.scale.partition import (
    LOCK,
    MANIFEST,
    Inputs,
    PartitionRefused,
    adjudicate_partitioned,
    estimate,
    lines_text,
    parse_size,
    part_count,
)
from huiminbao.scale.years import parts_needed, year_parts
from huiminbao.settlement.io import read_fee_lines, read_insured, read_settlements, yuan_text
from huiminbao.settlement.reader import RecordError
from huiminbao.synth import generate_city, write_city

PLAN = "liaocheng-2024"
OPTIONS = {"allow_outside": False, "no_fee_lines": False}
runner = CliRunner()


class Stop(Exception):
    """Raised by a test's hook: the run stops as if killed after a part was recorded."""


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small synthetic year with fee lines and one record in ten a refund, as CSV and Parquet."""
    out = tmp_path_factory.mktemp("city")
    write_city(generate_city(PLAN, 3000, seed=7, records=15_000, refund_share=0.1), out, "both")
    return out


def inputs(city: Path, ext: str = "parquet") -> Inputs:
    return Inputs(city / f"settlements.{ext}", city / f"roster.{ext}", city / f"fee_lines.{ext}")


@pytest.fixture(scope="module")
def whole(city: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The in-memory run, as ``hmb adjudicate`` writes it: payouts and explanation lines in yuan text."""
    compiled = compiled_plan(PLAN)
    result = adjudicate(
        compiled,
        read_settlements(city / "settlements.parquet", settlement_columns(compiled)),
        read_insured(city / "roster.parquet"),
        read_fee_lines(city / "fee_lines.parquet", claimable_lines(compiled)),
        all_lines=False,
        explain=True,
    )
    assert (result.settlements["payout"] > 0).sum() > 50  # enough paid to mean something
    assert (result.settlements["payout"] < 0).sum() > 0  # and refunds of paid settlements among them
    return result.settlements.with_columns(yuan_text("payout")), lines_text(result.lines)


def dataset(folder: Path) -> pl.DataFrame:
    return pl.read_parquet(folder / "part-*.parquet")


def same(a: pl.DataFrame, b: pl.DataFrame) -> bool:
    """The same rows in the columns both have (a run with explanations adds a settlement's ``reason``)."""
    key = [c for c in ("setl_id", "liability") if c in a.columns]
    cols = [c for c in a.columns if c in b.columns]
    return a.height == b.height and a.select(cols).sort(key).equals(b.select(cols).sort(key))


def test_a_tiny_memory_limit_partitions_and_pays_to_the_fen_what_the_whole_year_pays(city, whole, tmp_path):
    parts = part_count(estimate(inputs(city)), parse_size("8MB"), None)
    assert parts is not None and parts > 1
    out = tmp_path / "out"
    totals = adjudicate_partitioned(compiled_plan(PLAN), inputs(city), out, parts, options=OPTIONS)
    assert same(whole[0], dataset(out))
    assert totals.records == whole[0].height and totals.parts == parts
    assert sorted(p.name for p in out.glob("part-*.parquet")) == [f"part-{k:05d}.parquet" for k in range(parts)]
    assert not (out / "_input").exists()  # the copy of the inputs goes once every part is done


def test_seven_parts_from_csv_give_the_same_payouts_and_explanation_lines(city, whole, tmp_path):
    out, lines = tmp_path / "out", tmp_path / "lines"
    adjudicate_partitioned(compiled_plan(PLAN), inputs(city, "csv"), out, 7, options=OPTIONS, lines_out=lines)
    assert same(whole[0], dataset(out))
    assert same(whole[1], dataset(lines))
    persons = [set(pl.read_parquet(p)["psn_no"]) for p in sorted(out.glob("part-*.parquet"))]
    assert sum(len(p) for p in persons) == len(set().union(*persons))  # a person never spans two parts


def test_when_every_fee_line_must_be_read_they_follow_their_settlement_through_a_join(
    city, whole, tmp_path, monkeypatch
):
    monkeypatch.setattr("huiminbao.scale.partition.claimable_lines", lambda compiled: None)
    out = tmp_path / "out"
    adjudicate_partitioned(compiled_plan(PLAN), inputs(city), out, 4, options=OPTIONS)
    assert same(whole[0], dataset(out))


def test_one_part_is_the_whole_year_in_a_folder(city, whole, tmp_path):
    adjudicate_partitioned(compiled_plan(PLAN), inputs(city), tmp_path / "out", 1, options=OPTIONS)
    assert same(whole[0], dataset(tmp_path / "out"))


def test_a_stopped_run_resumes_after_its_last_finished_part_with_the_same_result(city, whole, tmp_path):
    out = tmp_path / "out"

    def stop_after_third(k: int) -> None:
        if k == 2:
            raise Stop

    with pytest.raises(Stop):
        adjudicate_partitioned(compiled_plan(PLAN), inputs(city), out, 7, options=OPTIONS, after_part=stop_after_third)
    manifest = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    assert sorted(manifest["finished"]) == ["0", "1", "2"] and not manifest["complete"]
    done: list[int] = []
    totals = adjudicate_partitioned(compiled_plan(PLAN), inputs(city), out, 7, options=OPTIONS, after_part=done.append)
    assert done == [3, 4, 5, 6] and totals.skipped == 3
    manifest = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    assert [r["skipped"] for r in manifest["runs"]] == [0, 3] and manifest["complete"]
    assert same(whole[0], dataset(out))
    assert totals.payout == sum(to_fen(x) for x in whole[0]["payout"])
    again = adjudicate_partitioned(compiled_plan(PLAN), inputs(city), out, 7, options=OPTIONS, after_part=done.append)
    assert done == [3, 4, 5, 6] and again.skipped == 7 and again.payout == totals.payout


def test_a_folder_of_another_run_is_refused_not_mixed(city, tmp_path):
    out = tmp_path / "out"
    adjudicate_partitioned(compiled_plan(PLAN), inputs(city), out, 3, options=OPTIONS)
    with pytest.raises(PartitionRefused, match="分区数"):
        adjudicate_partitioned(compiled_plan(PLAN), inputs(city), out, 4, options=OPTIONS)
    with pytest.raises(PartitionRefused, match="选项"):
        adjudicate_partitioned(compiled_plan(PLAN), inputs(city), out, 3, options={**OPTIONS, "allow_outside": True})
    with pytest.raises(PartitionRefused, match="方案"):
        adjudicate_partitioned(compiled_plan("liaocheng-2025"), inputs(city), out, 3, options=OPTIONS)
    changed = tmp_path / "roster.parquet"
    changed.write_bytes((city / "roster.parquet").read_bytes())
    other = Inputs(city / "settlements.parquet", changed, city / "fee_lines.parquet")
    with pytest.raises(PartitionRefused, match="输入文件"):
        adjudicate_partitioned(compiled_plan(PLAN), other, out, 3, options=OPTIONS)
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x.txt").write_text("x")
    with pytest.raises(PartitionRefused, match="不是分区理算的输出目录"):
        adjudicate_partitioned(compiled_plan(PLAN), inputs(city), tmp_path / "busy", 3, options=OPTIONS)


def test_two_runs_never_share_a_folder_at_once(city, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    with (out / LOCK).open("w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(PartitionRefused, match="正由另一次理算使用"):
            adjudicate_partitioned(compiled_plan(PLAN), inputs(city), out, 3, options=OPTIONS)
    adjudicate_partitioned(compiled_plan(PLAN), inputs(city), out, 3, options=OPTIONS)  # released: it runs


def test_a_setl_id_given_twice_is_refused_even_for_two_persons_in_different_parts(city, tmp_path):
    setl = pl.read_parquet(city / "settlements.parquet")
    twin = setl.filter(pl.col("refd_setl_flag") == "0").head(2)
    twin = twin.with_columns(pl.lit(twin["setl_id"][0]).alias("setl_id"))
    assert twin["psn_no"].n_unique() == 2
    path = tmp_path / "settlements.parquet"
    pl.concat([setl.filter(~pl.col("setl_id").is_in(twin["setl_id"].implode())), twin]).write_parquet(path)
    bad = Inputs(path, city / "roster.parquet", city / "fee_lines.parquet")
    with pytest.raises(RecordError, match=f"结算 {twin['setl_id'][0]}：结算ID"):
        adjudicate_partitioned(compiled_plan(PLAN), bad, tmp_path / "out", 5, options=OPTIONS)


def test_memory_sizes_and_the_automatic_choice():
    assert parse_size("4GB") == 4 * 2**30 and parse_size("512mb") == 512 * 2**20 and parse_size("1.5G") == 3 * 2**29
    with pytest.raises(PartitionRefused, match="--memory-limit"):
        parse_size("lots")
    assert part_count(10 * 2**20, None, None) is None  # a small year on this machine: in memory, as before
    assert part_count(10 * 2**20, 2**30, None) == 1  # a limit given: one part, still a folder
    assert part_count(100 * 2**30, 16 * 2**30, None) == 7  # 100 GB in parts of at most 15.5 GB
    with pytest.raises(PartitionRefused, match="--partitions"):
        part_count(0, None, 0)


def cli(city: Path, out: Path, *extra: str) -> list[str]:
    return [
        "adjudicate", "--plan", PLAN, "--settlements", str(city / "settlements.parquet"),
        "--insured", str(city / "roster.parquet"), "--fee-lines", str(city / "fee_lines.parquet"),
        "--out", str(out), *extra,
    ]  # fmt: skip


def test_hmb_adjudicate_partitions_on_a_memory_limit_or_a_count(city, whole, tmp_path):
    res = runner.invoke(app, cli(city, tmp_path / "out", "--memory-limit", "8MB"))
    assert res.exit_code == 0, res.output
    assert "15,000 settlements in" in res.output and "partitions" in res.output and "合计" in res.output
    assert same(whole[0], dataset(tmp_path / "out"))
    res = runner.invoke(app, cli(city, tmp_path / "out", "--memory-limit", "8MB"))
    assert res.exit_code == 0 and "续算" in res.output  # a finished folder: nothing is done again
    res = runner.invoke(app, cli(city, tmp_path / "p3", "--partitions", "3", "--lines-out", str(tmp_path / "l3")))
    assert res.exit_code == 0, res.output
    assert same(whole[1], dataset(tmp_path / "l3"))


def test_hmb_adjudicate_partitions_on_its_own_when_the_year_would_not_fit(city, whole, tmp_path, monkeypatch):
    class Scarce:
        available = 2**20  # 1 MB free: the 15,000 records would need about 10 MB

    monkeypatch.setattr("huiminbao.scale.partition.psutil.virtual_memory", Scarce)
    res = runner.invoke(app, cli(city, tmp_path / "out.parquet"))
    assert res.exit_code == 2 and "目录" in res.output and not (tmp_path / "out.parquet").exists()
    res = runner.invoke(app, cli(city, tmp_path / "out"))
    assert res.exit_code == 0, res.output
    assert same(whole[0], dataset(tmp_path / "out"))


def test_hmb_adjudicate_stopped_by_ctrl_c_says_how_to_resume(city, tmp_path, monkeypatch):
    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("huiminbao.cli.adjudicate.adjudicate_partitioned", interrupted)
    res = runner.invoke(app, cli(city, tmp_path / "out", "--partitions", "3"))
    assert res.exit_code == 130 and "续算" in res.output


def test_hmb_adjudicate_refuses_a_file_out_a_bad_size_or_another_runs_folder(city, tmp_path):
    res = runner.invoke(app, cli(city, tmp_path / "out.parquet", "--partitions", "3"))
    assert res.exit_code == 2 and "--out" in res.output and "目录" in res.output
    res = runner.invoke(app, cli(city, tmp_path / "out", "--memory-limit", "much"))
    assert res.exit_code == 2 and "--memory-limit" in res.output
    assert runner.invoke(app, cli(city, tmp_path / "out", "--partitions", "2")).exit_code == 0
    res = runner.invoke(app, cli(city, tmp_path / "out", "--partitions", "3"))
    assert res.exit_code == 2 and "分区数" in res.output
    os.utime(city / "roster.parquet")  # the same name, touched: another input
    res = runner.invoke(app, cli(city, tmp_path / "out", "--partitions", "2"))
    assert res.exit_code == 2 and "输入文件" in res.output


def test_year_parts_hold_each_person_whole_and_leave_nothing_behind(city: Path, tmp_path: Path) -> None:
    """``scale.years``: the year in parts by person gives the in-memory payout of every person (the sums
    year-end and what-if add up), reads each part through the one reader, and removes its scratch split."""
    compiled = compiled_plan(PLAN)
    whole_year = next(year_parts([compiled], inputs(city), None))
    expected = adjudicate(compiled, whole_year.settlements, whole_year.insured, whole_year.fee_lines).settlements
    per_person = expected.group_by("psn_no").agg(pl.col("payout").sum())
    seen, persons = [], 0
    for part in year_parts([compiled], inputs(city), 3, scratch=tmp_path):
        result = adjudicate(compiled, part.settlements, part.insured, part.fee_lines).settlements
        seen.append(result.group_by("psn_no").agg(pl.col("payout").sum()))
        persons += part.insured.height
        assert part.settlements["psn_no"].is_in(part.insured["psn_no"].implode()).all()
    assert persons == whole_year.insured.height
    assert pl.concat(seen).sort("psn_no").equals(per_person.sort("psn_no"))
    assert list(tmp_path.iterdir()) == []
    assert parts_needed(inputs(city), None, 4) == 4
    assert parts_needed(inputs(city), parse_size("1GB"), None) == 1
    assert parts_needed(inputs(city), None, None) is None
