"""A year on Spark (local mode) pays what the Polars engine pays, per settlement, to the fen.

Slow: a Spark session starts a JVM (about 15 s here) and each run is a few Spark jobs. One session
serves the whole module, with modest memory and no UI. Without PySpark or Java the tests skip
locally and fail under CI (``conftest.missing``): CI installs both (``make test``).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from huiminbao.cli.main import app
from huiminbao.engine.adjudicate import adjudicate, claimable_lines, settlement_columns
from huiminbao.plans import compiled_plan
from huiminbao.settlement.io import read_fee_lines, read_insured, read_settlements, yuan_text
from huiminbao.synth import generate_city, write_city
from tests.conftest import missing

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def spark() -> Iterator[object]:
    try:
        from huiminbao.scale.spark import local_session
    except ImportError:
        missing("PySpark is not installed: pip install '.[spark]'")
    if shutil.which("java") is None:
        missing("Java is not installed: apt-get install openjdk-17-jre-headless")
    session = local_session("local[2]", memory="1g")
    yield session
    session.stop()


def year(folder: Path, plan: str, persons: int, records: int) -> Path:
    """A small synthetic year with refunds and fee lines, as Parquet."""
    write_city(generate_city(plan, persons, seed=5, records=records), folder)
    return folder


def polars_payouts(folder: Path, plan: str) -> pl.DataFrame:
    """The in-process engine's payouts, as ``hmb adjudicate`` writes them."""
    compiled = compiled_plan(plan)
    result = adjudicate(
        compiled,
        read_settlements(folder / "settlements.parquet", settlement_columns(compiled)),
        read_insured(folder / "roster.parquet"),
        read_fee_lines(folder / "fee_lines.parquet", claimable_lines(compiled)),
        all_lines=False,
    )
    cols = ("setl_id", "psn_no", "tier", pl.col("status").cast(pl.Utf8), yuan_text("payout"))
    return result.settlements.select(*cols).sort("setl_id")


def written(out: Path) -> pl.DataFrame:
    return pl.read_parquet(out / "*.parquet").sort("setl_id")


@pytest.mark.parametrize(("plan", "persons", "records"), [("liaocheng-2024", 1000, 4000), ("zibo-2022", 600, 2500)])
def test_a_year_on_spark_pays_what_the_polars_engine_pays_to_the_fen(spark, tmp_path, plan, persons, records):
    from huiminbao.scale.spark import run

    folder = year(tmp_path / "city", plan, persons, records)
    raw = pl.read_parquet(folder / "settlements.parquet")
    assert (raw["refd_setl_flag"] == "1").sum() > 10  # refunds reverse their originals inside a bucket
    done = run(
        spark,
        compiled_plan(plan),
        settlements=str(folder / "settlements.parquet"),
        insured=str(folder / "roster.parquet"),
        fee_lines=str(folder / "fee_lines.parquet"),
        out=str(tmp_path / "out"),
        buckets=3,
        allow_outside=True,
    )
    expected = polars_payouts(folder, plan)
    got = written(tmp_path / "out")
    assert got.height == raw.height == done.records
    assert got.equals(expected)
    paid = expected.filter(pl.col("payout") != "0.00")
    assert paid.height > 20 and done.paid == paid.height
    assert done.total == int((expected["payout"].cast(pl.Decimal(20, 2)) * 100).cast(pl.Int64).sum())


def test_a_bad_record_stops_the_run_with_the_readers_message(spark, tmp_path):
    """Checked in the bucket (amounts, another year's record), across buckets (a setl_id under two
    persons), and before any bucket (a missing column)."""
    from huiminbao.scale.spark import Refused, run

    folder = year(tmp_path / "city", "liaocheng-2024", 200, 600)
    s = pl.read_parquet(folder / "settlements.parquet")
    bad = s["setl_id"][17]
    s.with_columns(
        pl.when(pl.col("setl_id") == bad).then(pl.col("medfee_sumamt") + 1).otherwise(pl.col("medfee_sumamt"))
    ).write_parquet(folder / "settlements.parquet")
    with pytest.raises(Refused, match=f"结算 {bad}：医疗费总额"):
        run(
            spark,
            compiled_plan("liaocheng-2024"),
            settlements=str(folder / "settlements.parquet"),
            insured=str(folder / "roster.parquet"),
            fee_lines=str(folder / "fee_lines.parquet"),
            out=str(tmp_path / "out"),
            allow_outside=True,
        )
    other = s.filter(pl.col("psn_no") != s["psn_no"][17], pl.col("refd_setl_flag") == "0")["setl_id"][0]
    s.with_columns(pl.col("setl_id").replace(other, bad)).write_parquet(folder / "settlements.parquet")
    with pytest.raises(Refused, match=f"结算 {bad}：结算ID"):
        run(
            spark,
            compiled_plan("liaocheng-2024"),
            settlements=str(folder / "settlements.parquet"),
            insured=str(folder / "roster.parquet"),
            fee_lines=str(folder / "fee_lines.parquet"),
            out=str(tmp_path / "out"),
            allow_outside=True,
        )
    old = s["setl_id"][5]
    day = {"begndate": date(2023, 6, 1), "enddate": date(2023, 6, 1), "setl_time": datetime(2023, 6, 1, 10)}
    moved = [pl.when(pl.col("setl_id") == old).then(pl.lit(v)).otherwise(pl.col(k)).alias(k) for k, v in day.items()]
    s.with_columns(moved).write_parquet(folder / "settlements.parquet")
    with pytest.raises(Refused, match=f"不属于方案 liaocheng-2024.*结算 {old}"):
        run(
            spark,
            compiled_plan("liaocheng-2024"),
            settlements=str(folder / "settlements.parquet"),
            insured=str(folder / "roster.parquet"),
            fee_lines=str(folder / "fee_lines.parquet"),
            out=str(tmp_path / "out"),
        )
    s.drop("psn_no").write_parquet(folder / "settlements.parquet")
    with pytest.raises(Refused, match="缺少必需的列 人员编号"):
        run(
            spark,
            compiled_plan("liaocheng-2024"),
            settlements=str(folder / "settlements.parquet"),
            insured=str(folder / "roster.parquet"),
            out=str(tmp_path / "out"),
        )


def test_hmb_adjudicate_engine_spark_writes_what_the_polars_engine_writes(spark, tmp_path):
    folder = year(tmp_path / "city", "liaocheng-2024", 300, 1200)
    args = ["adjudicate", "--plan", "liaocheng-2024", "--allow-outside"]
    args += ["--settlements", str(folder / "settlements.parquet"), "--insured", str(folder / "roster.parquet")]
    args += ["--fee-lines", str(folder / "fee_lines.parquet")]
    runner = CliRunner()
    res = runner.invoke(app, [*args, "--engine", "spark", "--spark-master", "local[2]", "--out", str(tmp_path / "o")])
    assert res.exit_code == 0, res.output
    assert "on Spark local[2]" in res.output
    res = runner.invoke(app, [*args, "--out", str(tmp_path / "polars.parquet")])
    assert res.exit_code == 0, res.output
    polars_run = pl.read_parquet(tmp_path / "polars.parquet").with_columns(pl.col("status").cast(pl.Utf8))
    assert written(tmp_path / "o").equals(polars_run.sort("setl_id"))
    refused = runner.invoke(app, [*args, "--engine", "spark", "--out", str(tmp_path / "x"), "--lines-out", "l.csv"])
    assert refused.exit_code == 2 and "--lines-out" in refused.output
