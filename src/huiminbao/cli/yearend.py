"""``hmb year-end --plan ID``: re-adjudicate the plan-year's recorded settlements, write adjustments."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from huiminbao.db.session import Database
from huiminbao.engine.prepare import EngineError
from huiminbao.identity import audit
from huiminbao.plans import PlanError, PlanIncomplete, PlanNotFound
from huiminbao.scale.partition import PartitionRefused, parse_size, part_count
from huiminbao.settings import get_settings
from huiminbao.settlement.reader import RecordError
from huiminbao.settlement.yearend import year_end


def yearend(
    plan: str = typer.Option(..., "--plan", help="plan id, e.g. liaocheng-2024"),
    report: Path | None = typer.Option(None, help="CSV of this run's adjustments (psn_no, liability, paid, due)"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON document"),
    memory_limit: str | None = typer.Option(
        None, help="re-adjudicate the year by parts of persons so each part fits, e.g. 4GB"
    ),
    partitions: int | None = typer.Option(None, help="re-adjudicate the year in N parts by person"),
) -> None:
    """Run the plan-year's settlements through the batch engine in setl_time order and write one
    adjustment (top-up or recovery) per person and liability where it pays other than was paid.
    The year runs in memory when it fits, else part by part of persons (as ``hmb adjudicate``).
    Idempotent: a second run writes nothing new."""
    console = Console(stderr=True)
    try:  # refused before the database is read
        limit = parse_size(memory_limit) if memory_limit is not None else None
        if partitions is not None:
            part_count(0, None, partitions)
    except PartitionRefused as exc:
        console.print(str(exc), markup=False, soft_wrap=True)
        raise typer.Exit(2) from None
    db = Database.from_url(get_settings().database_url)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("剩余"),
        TimeRemainingColumn(),
    )
    try:
        with Progress(*columns, console=console, transient=True) as bar, db.session() as s:
            task = bar.add_task("准备", total=None)

            def tick(what: str, done: int, total: int) -> None:
                bar.update(task, description=what, completed=done, total=total)

            result = year_end(
                session=s, actor=audit.CLI, plan_id=plan, memory_limit=limit, partitions=partitions, tick=tick
            )
    except (PlanError, PlanNotFound, PlanIncomplete) as exc:
        console.print(f"方案 {plan}：{exc}", markup=False, soft_wrap=True)
        raise typer.Exit(2) from None
    except (RecordError, EngineError, PartitionRefused) as exc:
        console.print(f"方案 {plan} 无法重算：{exc}", markup=False, soft_wrap=True)
        raise typer.Exit(2) from None
    finally:
        db.dispose()
    if report is not None:
        with report.open("w", encoding="utf-8", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=["psn_no", "liability", "paid", "due", "adjustment"])
            writer.writeheader()
            writer.writerows(result.report_rows())
    summary = result.summary()
    if as_json:
        typer.echo(json.dumps({**summary, "lines": result.report_rows()}, ensure_ascii=False))
        return
    typer.echo(
        f"{plan}：重算 {summary['settlements']} 笔结算（{summary['persons']} 人），已付 {summary['paid']} 元，"
        f"应付 {summary['due']} 元；本次调整 {summary['adjustments']} 条（补付 {summary['top_up']} 元，"
        f"追回 {summary['recovery']} 元）"
    )
