"""``hmb year-end --plan ID``: re-adjudicate the plan-year's recorded settlements, write adjustments."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import typer

from huiminbao.db.session import Database
from huiminbao.identity import audit
from huiminbao.plans import PlanError, PlanNotFound
from huiminbao.settings import get_settings
from huiminbao.settlement.yearend import year_end


def yearend(
    plan: str = typer.Option(..., "--plan", help="plan id, e.g. liaocheng-2024"),
    report: Path | None = typer.Option(None, help="CSV of this run's adjustments (psn_no, liability, paid, due)"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON document"),
) -> None:
    """Run the plan-year's settlements through the batch engine in setl_time order and write one
    adjustment (top-up or recovery) per person and liability where it pays other than was paid.
    Idempotent: a second run writes nothing new."""
    db = Database.from_url(get_settings().database_url)
    try:
        with db.session() as s:
            result = year_end(session=s, actor=audit.CLI, plan_id=plan)
    except (PlanError, PlanNotFound) as exc:
        typer.echo(f"方案 {plan}：{exc}", err=True)
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
