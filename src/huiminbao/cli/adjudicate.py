"""``hmb adjudicate``: a whole file of settlements through the engine, with a summary per liability."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path

import polars as pl
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from huiminbao.engine.adjudicate import adjudicate as run
from huiminbao.engine.adjudicate import claimable_lines, settlement_columns
from huiminbao.engine.prepare import EngineError, Status
from huiminbao.engine.reasons import STATUS_TEXT, outside_plan
from huiminbao.money import BP, to_yuan
from huiminbao.plans import Compiled, PlanError, PlanIncomplete, PlanNotFound, compiled_plan
from huiminbao.scale.partition import (
    Inputs,
    PartitionRefused,
    Tick,
    adjudicate_partitioned,
    estimate,
    parse_size,
    part_count,
)
from huiminbao.settlement.io import read_fee_lines, read_insured, read_settlements, write_frame, yuan_text
from huiminbao.settlement.reader import RecordError


class Engine(StrEnum):
    """Where the year runs: this process, or Spark (a cluster, or local mode)."""

    POLARS = "polars"
    SPARK = "spark"


def _money(n: int) -> str:
    text = to_yuan(n)
    whole, frac = text.lstrip("-").split(".")
    return ("-" if text.startswith("-") else "") + f"{int(whole):,}.{frac}"


def adjudicate(
    plan: str = typer.Option(..., help="plan id, e.g. liaocheng-2024"),
    settlements: Path = typer.Option(..., help="settlements (setlinfo), .csv or .parquet"),
    insured: Path = typer.Option(..., help="insured persons, .csv or .parquet"),
    out: Path = typer.Option(..., help="payout per settlement, .csv or .parquet"),
    fee_lines: Path | None = typer.Option(None, help="fee lines (feedetl), .csv or .parquet"),
    no_fee_lines: bool = typer.Option(
        False, "--no-fee-lines", help="the year has no fee lines: fee-line liabilities pay nothing"
    ),
    allow_outside: bool = typer.Option(
        False,
        "--allow-outside",
        help="records outside the plan's cover period, insurance types or area pay nothing (default: refuse)",
    ),
    lines_out: Path | None = typer.Option(None, help="also write the explanation lines per liability, with reasons"),
    memory_limit: str | None = typer.Option(
        None, help="partition the year so each part fits, e.g. 4GB; --out (and --lines-out) are then folders"
    ),
    partitions: int | None = typer.Option(None, help="partition the year into N parts by person; --out is a folder"),
    engine: Engine = typer.Option(
        Engine.POLARS, "--engine", help="polars (this process) or spark (Parquet in and out)"
    ),
    spark_master: str = typer.Option("local[*]", "--spark-master", help="with --engine spark: e.g. local[2]"),
) -> None:
    """Adjudicate a year of settlements (batch); partitioned by person when it does not fit in memory."""
    console = Console(stderr=True)
    if engine is Engine.SPARK:
        if memory_limit is not None or partitions is not None:
            console.print("--memory-limit 与 --partitions 只用于 polars 引擎；Spark 按参保人自行分桶", markup=False)
            raise typer.Exit(2)
        _spark(plan, settlements, insured, out, fee_lines, no_fee_lines, allow_outside, lines_out, spark_master)
        return
    parts = _parts(console, settlements, insured, fee_lines, out, memory_limit, partitions)
    if parts is not None:
        inputs = Inputs(settlements, insured, fee_lines)
        _partitioned(console, plan, inputs, out, parts, no_fee_lines, allow_outside, lines_out)
        return
    steps = ["读取方案", "读取结算记录", "读取费用明细", "读取参保人", "理算", "写出结果"]
    started = time.perf_counter()
    try:
        with Progress(
            SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), console=console
        ) as bar:
            task = bar.add_task(steps[0], total=len(steps))
            compiled = compiled_plan(plan)
            _need_fee_lines(compiled, fee_lines, no_fee_lines)
            bar.update(task, advance=1, description=steps[1])
            setl = read_settlements(settlements, settlement_columns(compiled))
            if not allow_outside:
                _refuse_outside(compiled, setl)
            bar.update(task, advance=1, description=steps[2])
            lines = read_fee_lines(fee_lines, claimable_lines(compiled)) if fee_lines else None
            bar.update(task, advance=1, description=steps[3])
            people = read_insured(insured)
            bar.update(task, advance=1, description=steps[4])
            result = run(compiled, setl, people, lines, all_lines=False, explain=lines_out is not None)
            bar.update(task, advance=1, description=steps[5])
            write_frame(result.settlements.with_columns(yuan_text("payout")), out)
            if lines_out:
                exact = [yuan_text(c, BP) for c in ("counted", "deductible_used")]
                money = [yuan_text(c) for c in ("base", "entitled", "payout")]
                bp = pl.col("ratio")
                percent = pl.when(bp % 100 == 0).then((bp // 100).cast(pl.Utf8)).otherwise((bp / 100).cast(pl.Utf8))
                ratio = pl.concat_str(percent, pl.lit("%")).alias("ratio")
                write_frame(result.lines.with_columns(*exact, *money, ratio), lines_out)
            bar.update(task, advance=1, description="完成")
    except PlanNotFound as exc:
        console.print(f"plan: {exc}", soft_wrap=True)
        raise typer.Exit(2) from exc
    except (RecordError, EngineError, PlanIncomplete, PlanError, BatchRefused) as exc:
        console.print(str(exc), markup=False, soft_wrap=True)
        raise typer.Exit(2) from exc
    elapsed = time.perf_counter() - started
    summary = result.lines.group_by("liability").agg(
        (pl.col("payout") != 0).sum().alias("n"), pl.col("entitled").sum(), pl.col("payout").sum()
    )
    total = int(result.settlements["payout"].sum())
    paid = int((result.settlements["payout"] != 0).sum())
    counts = dict(result.settlements.group_by("status").len().iter_rows())
    _summary(console, compiled, summary, paid, total, counts)
    console.print(f"{setl.height:,} settlements in {elapsed:.2f} s -> {out}")


def _summary(
    console: Console, compiled: Compiled, summary: pl.DataFrame, paid: int, total: int, counts: dict[str, int]
) -> None:
    """The payout table per liability and what was not paid, the same for a whole or a partitioned run."""
    tier_names = {x.id: x.name for t in compiled.plan.tiers for x in t.liabilities}
    table = Table(
        "责任", "赔付笔数", "应赔 (元)", "实赔 (元)", title=f"{compiled.plan.name} {compiled.plan.year} 理算汇总"
    )
    for row in summary.sort("liability").iter_rows(named=True):
        table.add_row(
            tier_names.get(row["liability"], row["liability"]),
            str(row["n"]),
            _money(row["entitled"]),
            _money(row["payout"]),
        )
    table.add_row("合计", str(paid), "", _money(total))
    console.print(table)
    uninsured = counts.get(Status.NOT_INSURED.value, 0)
    if uninsured:
        console.print(
            f"[yellow]{uninsured:,} 条结算记录的参保人不在参保人文件中，未赔付（结果中 status 为 not_insured）[/]"
        )
    for status, n in sorted(counts.items()):
        if status not in (Status.COVERED.value, Status.NOT_INSURED.value):
            console.print(f"{n:,} 条结算记录不予赔付：{STATUS_TEXT[status]}（status {status}）", markup=False)


def _parts(
    console: Console,
    settlements: Path,
    insured: Path,
    fee_lines: Path | None,
    out: Path,
    memory_limit: str | None,
    partitions: int | None,
) -> int | None:
    """How many parts, None for the in-memory run: as asked, or automatically when the year would not fit."""
    try:
        limit = parse_size(memory_limit) if memory_limit is not None else None
        if partitions is None and settlements.suffix.lower() not in (".csv", ".parquet"):
            return None  # the reader refuses the file with its own message
        needed = estimate(Inputs(settlements, insured, fee_lines)) if partitions is None else 0
        parts = part_count(needed, limit, partitions)
        if parts is not None and out.suffix.lower() in (".csv", ".parquet"):
            why = f"，估计整年需内存 {needed / 2**30:.1f} GB" if partitions is None else ""
            raise PartitionRefused(
                f"--out：分区理算（{parts} 个分区{why}）的输出是一个目录，不是文件 {out.name}；请给出目录"
            )
    except (PartitionRefused, RecordError) as exc:
        console.print(str(exc), markup=False, soft_wrap=True)
        raise typer.Exit(2) from exc
    return parts


@contextmanager
def part_progress(console: Console, parts: int) -> Iterator[Tick]:
    """A bar over the parts with the time left, for any command that runs a year part by part."""
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("分区"),
        TimeElapsedColumn(),
        TextColumn("剩余"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console) as bar:
        task = bar.add_task("准备", total=parts)
        yield lambda what, done, total: bar.update(task, description=what, completed=done, total=total)


def _partitioned(
    console: Console,
    plan: str,
    inputs: Inputs,
    out: Path,
    parts: int,
    no_fee_lines: bool,
    allow_outside: bool,
    lines_out: Path | None,
) -> None:
    """The year by parts of persons into the folder ``out``, resuming what an earlier run there finished."""
    started = time.perf_counter()
    try:
        compiled = compiled_plan(plan)
        _need_fee_lines(compiled, inputs.fee_lines, no_fee_lines)
        if lines_out is not None and lines_out.suffix.lower() in (".csv", ".parquet"):
            raise PartitionRefused(f"--lines-out：分区理算的说明行输出是一个目录，不是文件 {lines_out.name}")
        vet = None if allow_outside else (lambda setl: _refuse_outside(compiled, setl))
        with part_progress(console, parts) as tick:
            totals = adjudicate_partitioned(
                compiled,
                inputs,
                out,
                parts,
                options={"allow_outside": allow_outside, "no_fee_lines": no_fee_lines},
                lines_out=lines_out,
                vet=vet,
                tick=tick,
            )
    except PlanNotFound as exc:
        console.print(f"plan: {exc}", soft_wrap=True)
        raise typer.Exit(2) from exc
    except (RecordError, EngineError, PlanIncomplete, PlanError, BatchRefused, PartitionRefused) as exc:
        console.print(str(exc), markup=False, soft_wrap=True)
        raise typer.Exit(2) from exc
    except KeyboardInterrupt as exc:
        console.print(
            f"已中断：已完成的分区记录在 {out}/manifest.json，再次运行同一命令将从下一个分区续算", markup=False
        )
        raise typer.Exit(130) from exc
    elapsed = time.perf_counter() - started
    _summary(console, compiled, totals.by_liability, totals.paid, totals.payout, totals.statuses)
    resumed = f"（续算：{totals.skipped} 个分区此前已完成）" if totals.skipped else ""
    console.print(
        f"{totals.records:,} settlements in {totals.parts} partitions in {elapsed:.2f} s -> {out}{resumed}",
        markup=False,
    )


def _spark(
    plan: str,
    settlements: Path,
    insured: Path,
    out: Path,
    fee_lines: Path | None,
    no_fee_lines: bool,
    allow_outside: bool,
    lines_out: Path | None,
    master: str,
) -> None:
    """The same year on Spark (``huiminbao.scale.spark``): payouts only, written as a Parquet folder."""
    console = Console(stderr=True)
    try:
        from huiminbao.scale import spark
    except ImportError as exc:
        console.print("--engine spark 需要 PySpark：pip install 'huiminbao[spark]'（并安装 Java 17）")
        raise typer.Exit(2) from exc
    try:
        if lines_out is not None:
            raise BatchRefused("--engine spark 只写出每笔结算的赔付，不写解释明细：请去掉 --lines-out")
        for given in (settlements, insured, fee_lines):
            if given is not None and not given.is_dir() and not given.name.lower().endswith(".parquet"):
                raise BatchRefused(f"{given}：--engine spark 只读 Parquet 文件或文件夹")
        compiled = compiled_plan(plan)
        _need_fee_lines(compiled, fee_lines, no_fee_lines)
        started = time.perf_counter()
        session = spark.local_session(master)
        paths = {"settlements": settlements, "insured": insured, "out": out, "fee_lines": fee_lines}
        uris = {k: str(v.resolve()) if v else None for k, v in paths.items()}
        done = spark.run(session, compiled, **uris, allow_outside=allow_outside)  # type: ignore[arg-type]
    except PlanNotFound as exc:
        console.print(f"plan: {exc}", soft_wrap=True)
        raise typer.Exit(2) from exc
    except (PlanIncomplete, PlanError, BatchRefused, spark.Refused) as exc:
        console.print(str(exc), markup=False, soft_wrap=True)
        raise typer.Exit(2) from exc
    for status, (n, _, _) in sorted(done.statuses.items()):
        if status != Status.COVERED.value:
            console.print(f"{n:,} 条结算记录不予赔付：{STATUS_TEXT[status]}（status {status}）", markup=False)
    console.print(
        f"{done.records:,} settlements, {done.paid:,} paid, {_money(done.total)} yuan, on Spark {master} "
        f"in {time.perf_counter() - started:.1f} s -> {out}"
    )


class BatchRefused(ValueError):
    """A batch that would be silently wrong; the message says what to give or confirm."""


def _need_fee_lines(compiled: Compiled, fee_lines: Path | None, none_given: bool) -> None:
    """A plan with fee-line liabilities run without fee lines pays those fees under another liability."""
    names = sorted({x.spec.name for t in compiled.tiers for x in t.liabilities if x.lines is not None})
    if names and fee_lines is None and not none_given:
        raise BatchRefused(
            f"方案 {compiled.plan.id} 有按费用明细（feedetl）认定的责任：{'、'.join(names)}。"
            "请用 --fee-lines 给出费用明细文件；若本年度确无费用明细，用 --no-fee-lines 确认（这些责任将不赔付）。"
        )


def _refuse_outside(compiled: Compiled, setl: pl.DataFrame) -> None:
    """Records another plan's year or city would pay belong to another run: refuse unless confirmed."""
    if refusal := outside_plan(compiled.plan, setl):
        raise BatchRefused(refusal)
