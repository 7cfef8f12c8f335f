"""``hmb notify``: the notification delivery worker, and the outbox for operators."""

from __future__ import annotations

import json
import signal
import threading

import typer

from huiminbao.api.logs import configure_logging
from huiminbao.db.base import utcnow
from huiminbao.db.session import Database
from huiminbao.notify.models import OutboxStatus
from huiminbao.notify.outbox import listing, row_out
from huiminbao.notify.senders import senders
from huiminbao.notify.worker import Report, deliver_due
from huiminbao.notify.worker import run as run_worker
from huiminbao.settings import get_settings

app = typer.Typer(help="通知：发送队列与投递 (notifications: the outbox and its delivery).", no_args_is_help=True)


def _summary(report: Report) -> str:
    line = f"已发送 {len(report.sent)} 条，待重试 {len(report.retried)} 条，失败 {len(report.failed)} 条"
    return line + (f"，被其他进程接手 {len(report.lost)} 条" if report.lost else "")


@app.command()
def run(
    once: bool = typer.Option(False, "--once", help="one round, then exit (cron)"),
    interval: float = typer.Option(5.0, min=0.1, help="seconds between rounds when nothing is due"),
    batch: int = typer.Option(100, min=1, max=1000, help="messages one round takes at most"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON document (message ids) at the end"),
) -> None:
    """Send the notifications that are due through their channels (HMB_NOTIFY_SENDER, default a JSON-lines
    file), retrying failures with backoff; without --once, keep going until interrupted (Ctrl-C, SIGTERM).
    Any number of workers may run at once: each message is taken by one."""
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_json)  # on stderr: stdout is the report's
    db = Database.from_url(settings.database_url)
    sender_for = senders(settings)
    try:
        if once:
            report = deliver_due(db, sender_for, utcnow(), batch, settings=settings)
        else:
            stop = threading.Event()
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, lambda *_: stop.set())
            on_round = None if as_json else (lambda r: typer.echo(_summary(r)))
            report = run_worker(
                db, stop, interval, sender_for=sender_for, settings=settings, batch=batch, on_round=on_round
            )
    finally:
        db.dispose()
    typer.echo(json.dumps(report.as_dict()) if as_json else _summary(report))


@app.command("list")
def list_(
    status: OutboxStatus | None = typer.Option(None, "--status", help="only messages of this status"),
    limit: int = typer.Option(50, min=1, max=500, help="newest first, at most this many"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON document"),
) -> None:
    """The newest notifications: status, attempts, next attempt, last error (no phone numbers: the
    outbox holds none)."""
    db = Database.from_url(get_settings().database_url)
    try:
        with db.session() as s:
            rows = [row_out(r) for r in listing(session=s, status=status, limit=limit)]
    finally:
        db.dispose()
    if as_json:
        typer.echo(json.dumps({"items": rows}, ensure_ascii=False))
        return
    for r in rows:
        when = r["sent_at"] or r["next_attempt_at"]
        error = f"  {r['last_error']}" if r["last_error"] else ""
        typer.echo(
            f"{r['id']:>8}  {r['status']:<8} {r['channel']:<7} {r['event']:<32} {r['psn_no'] or '-':<20}"
            f" 尝试 {r['attempts']}  {when}{error}"
        )
    if not rows:
        typer.echo("没有通知")
