"""``hmb service escalate``: the nightly sweep that escalates complaints and inquiries past their due date."""

from __future__ import annotations

import json
from datetime import date

import typer

from huiminbao.db.session import Database
from huiminbao.identity import audit
from huiminbao.service.service import Clock, ServiceError, escalate_overdue
from huiminbao.settings import get_settings

app = typer.Typer(help="Complaints and inquiries: the escalation sweep.", no_args_is_help=True)


@app.command("escalate")
def escalate(
    day: str | None = typer.Option(None, "--date", help="the day of the sweep, YYYY-MM-DD; default HMB_TODAY or today"),
    as_json: bool = typer.Option(False, "--json", help='{"date", "escalated": [case_no, ...]}'),
) -> None:
    """Escalate every open or escalated case whose due date has passed; each gets a new due date."""
    settings = get_settings()
    try:
        today = date.fromisoformat(day) if day else settings.platform_date()
    except ValueError:
        typer.echo(f"--date: 不是 YYYY-MM-DD 日期：{day!r}", err=True)
        raise typer.Exit(2) from None
    db = Database.from_url(settings.database_url)
    try:
        with db.session() as s:
            done = escalate_overdue(session=s, today=today, clock=Clock.of(settings), actor=audit.CLI)
    except ServiceError as exc:
        typer.echo(exc.message, err=True)
        raise typer.Exit(2) from None
    finally:
        db.dispose()
    if as_json:
        typer.echo(json.dumps({"date": today.isoformat(), "escalated": done}, ensure_ascii=False))
    else:
        typer.echo(f"{today.isoformat()}：升级 {len(done)} 件逾期工单" + ("：" + "、".join(done) if done else ""))
