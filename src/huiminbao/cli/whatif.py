"""``hmb whatif``: a candidate plan priced on a past year's files beside the base plan (``supervision.whatif``)."""

from __future__ import annotations

import json
import time
from contextlib import closing, nullcontext
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Column, Table

from huiminbao.cli.adjudicate import part_progress
from huiminbao.engine.prepare import EngineError
from huiminbao.money import to_yuan_grouped
from huiminbao.plans import PlanError, PlanIncomplete, PlanNotFound, compiled_plan
from huiminbao.scale.partition import Inputs, PartitionRefused, parse_size
from huiminbao.scale.years import parts_needed, year_parts
from huiminbao.settlement.reader import RecordError
from huiminbao.supervision.whatif import (
    Comparison,
    WhatIfError,
    compare,
    decile_rows,
    load_candidate,
    rows,
    target_bp,
)


def whatif(
    base: str = typer.Option(..., help="the plan that paid the year, e.g. liaocheng-2024"),
    candidate: Path = typer.Option(..., help="the candidate plan file (YAML), validated as any plan file"),
    tier: str | None = typer.Option(None, help="price everyone in this tier of the candidate (default: their own)"),
    settlements: Path = typer.Option(..., help="the year's settlements (setlinfo), .csv or .parquet"),
    fee_lines: Path = typer.Option(..., help="the year's fee lines (feedetl), .csv or .parquet"),
    insured: Path = typer.Option(..., help="the year's insured persons, .csv or .parquet"),
    target_loss_ratio: str | None = typer.Option(
        None, help='target loss ratio, "80%" or "0.8" (default: the plan\'s floor)'
    ),
    as_json: bool = typer.Option(False, "--json", help="one JSON document on stdout, amounts as yuan strings"),
    memory_limit: str | None = typer.Option(None, help="price the year part by part so each part fits, e.g. 4GB"),
    partitions: int | None = typer.Option(None, help="price the year in N parts by person"),
) -> None:
    """Price a candidate plan on a past year side by side with the base plan; part by part of persons
    when the year does not fit in memory (the same figures to the fen)."""
    err = Console(stderr=True)
    started = time.perf_counter()
    try:
        current = compiled_plan(base)
        proposed = load_candidate(candidate)
        goal = target_bp(target_loss_ratio, current)
        inputs = Inputs(settlements, insured, fee_lines)
        limit = parse_size(memory_limit) if memory_limit is not None else None
        parts = parts_needed(inputs, limit, partitions)
        with (
            nullcontext() if parts is None else part_progress(err, parts) as tick,
            closing(year_parts([current, proposed], inputs, parts, tick=tick)) as year,
        ):
            result = compare(current, proposed, year, tier=tier, target=goal)
    except PlanNotFound as exc:
        err.print(f"--base：{exc}", markup=False, soft_wrap=True)
        raise typer.Exit(2) from exc
    except WhatIfError as exc:
        err.print(f"--{(exc.field or '').replace('_', '-')}：{exc}", markup=False, soft_wrap=True)
        raise typer.Exit(2) from exc
    except (PlanError, RecordError, EngineError, PlanIncomplete, PartitionRefused) as exc:
        err.print(str(exc), markup=False, soft_wrap=True)
        raise typer.Exit(2) from exc
    if as_json:
        typer.echo(json.dumps(result.to_json(), ensure_ascii=False, indent=2))
        return
    Console().print(*tables(result))
    for note in result.notes:
        err.print(f"注：{note}", markup=False, soft_wrap=True)
    split = f"，分 {parts} 个分区" if parts else ""
    err.print(f"{result.settlements:,} 条结算记录{split}，两次理算共 {time.perf_counter() - started:.2f} 秒")


def tables(c: Comparison) -> tuple[Table, Table]:
    """The side-by-side table (base | candidate | change) and the deciles of the payout per person paid."""
    title = (
        f"试算定价：{c.settlements:,} 条结算，参保 {c.persons:,} 人，现行保费人均 {to_yuan_grouped(c.premium_per_person)} 元，"
        f"保费收入 {to_yuan_grouped(c.premium_income)} 元"
    )
    amounts = [Column(h, justify="right", no_wrap=True) for h in ("基准", "候选", "变化")]
    table = Table(Column("项目", overflow="fold", ratio=1), *amounts, title=title, caption=_caption(c))
    for row in rows(c):
        table.add_row(*row)
    spread = Table(
        "获赔人赔付分位",
        Column("基准（元）", justify="right"),
        Column("候选（元）", justify="right"),
        title="获赔人每人全年赔付的十分位（各十分之一人中的最高额）",
    )
    for row in decile_rows(c):
        spread.add_row(*row)
    return table, spread


def _caption(c: Comparison) -> str:
    """Which plan is which, under the table: the columns stay narrow enough for the liabilities' names."""
    return f"基准：{c.base.plan_id}（{c.base.name} {c.base.year}）；候选：{c.candidate.plan_id}（{c.candidate.name} {c.candidate.year}）"
