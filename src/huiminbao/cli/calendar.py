"""``hmb calendar``: due dates in statutory working days, and the override table's check."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import typer

from huiminbao.calendar import CalendarError, default_calendar, load_overrides

app = typer.Typer(help="China's statutory working-day calendar: due dates, override table.", no_args_is_help=True)


def _fail(message: str) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(2)


@app.command("due")
def due(
    start: str = typer.Argument(..., metavar="DATE", help="the day the clock starts (not counted), YYYY-MM-DD"),
    working_days: int = typer.Option(..., "--working-days", help="statutory working days to add (N >= 0)"),
    as_json: bool = typer.Option(False, "--json", help='{"date", "working_days", "due", "sources"}'),
) -> None:
    """The date N statutory working days after DATE (DATE itself not counted)."""
    try:
        day = date.fromisoformat(start)
    except ValueError:
        raise _fail(f"DATE: 不是 YYYY-MM-DD 日期：{start!r}") from None
    if working_days < 0:
        raise _fail(f"--working-days: 不能为负：{working_days}")
    try:
        cal = default_calendar()
        result = cal.add_working_days(day, working_days)
        sources = {str(y): cal.year_source(y) for y in range(day.year, result.year + 1)}
    except CalendarError as exc:
        raise _fail(str(exc).replace("\n", "; ")) from exc
    if as_json:
        doc = {"date": day.isoformat(), "working_days": working_days, "due": result.isoformat(), "sources": sources}
        typer.echo(json.dumps(doc, ensure_ascii=False))
    else:
        typer.echo(result.isoformat())


@app.command("check")
def check(file: Path) -> None:
    """Validate an override table; errors name the file and the field."""
    try:
        rules = load_overrides(file)
    except CalendarError as exc:
        raise _fail(str(exc)) from exc
    typer.echo(f"{file}: ok, {len(rules)} year(s)")
    for year, rule in sorted(rules.items()):
        typer.echo(f"  {year}: {len(rule.holidays)} 放假日, {len(rule.workdays)} 调休上班日 — {rule.citation}")
