"""``hmb report monthly|annual --plan ID --period P``: the regulator's workbook, written to a file."""

from __future__ import annotations

from pathlib import Path

import typer

from huiminbao.db.session import Database
from huiminbao.identity import audit
from huiminbao.plans import PlanNotFound, load_plan
from huiminbao.settings import get_settings
from huiminbao.supervision.reports import Kind, PeriodError, take

app = typer.Typer(help="监管报表：月度与年度 Excel 工作簿", no_args_is_help=True)


def _write(kind: Kind, plan: str, period: str | None, out: Path | None) -> None:
    """Make the report (audited as taken by the CLI) and write it; a bad option exits 2 naming it."""
    try:
        chosen = load_plan(plan)
    except PlanNotFound:
        typer.echo(f"--plan：没有方案 {plan}", err=True)
        raise typer.Exit(2) from None
    db = Database.from_url(get_settings().database_url)
    try:
        with db.session() as s:
            report = take(session=s, actor=audit.CLI, plan=chosen, kind=kind, period=period)
    except PeriodError as exc:
        typer.echo(f"--{exc.field}：{exc.message}", err=True)
        raise typer.Exit(2) from None
    finally:
        db.dispose()
    target = out or Path(report.ascii_name)
    target.write_bytes(report.data)
    typer.echo(f"已生成 {report.name}：{target}")


@app.command("monthly")
def monthly(
    plan: str = typer.Option(..., "--plan", help="plan id, e.g. liaocheng-2024"),
    period: str = typer.Option(..., "--period", help="the month, YYYY-MM"),
    out: Path | None = typer.Option(None, "--out", help="file to write (default: PLAN-monthly-PERIOD.xlsx here)"),
) -> None:
    """The plan's monthly report for one calendar month."""
    _write(Kind.MONTHLY, plan, period, out)


@app.command("annual")
def annual(
    plan: str = typer.Option(..., "--plan", help="plan id, e.g. liaocheng-2024"),
    period: str | None = typer.Option(None, "--period", help="the plan's year, e.g. 2024 (default: that year)"),
    out: Path | None = typer.Option(None, "--out", help="file to write (default: PLAN-annual-YEAR.xlsx here)"),
) -> None:
    """The plan's annual report over the whole plan-year (premium paid during enrollment included)."""
    _write(Kind.ANNUAL, plan, period, out)
