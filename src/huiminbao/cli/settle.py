"""``hmb settle --file F``: settlements from a file through the one-stop path (``flows.settle_file``)."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from huiminbao.db.session import Database
from huiminbao.flows.settle_file import FileResult, settle_file
from huiminbao.settings import get_settings
from huiminbao.settlement.reader import RecordError


def settle(
    file: Path = typer.Option(..., "--file", help="settlements (setlinfo), .csv or .parquet, national field names"),
    fee_lines: Path | None = typer.Option(None, "--fee-lines", help="their fee lines (feedetl), by setl_id"),
    report: Path | None = typer.Option(None, help="where to write refused records; default: FILE.refused.csv"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON document"),
) -> None:
    """Settle each record as the hospital's one-stop call would (same checks, same accumulators), in
    setl_time order, one transaction per record: a file sent again, or stopped and sent again, pays
    nothing twice. Exits 1 when a record was refused (each named in the report), 2 when the file
    cannot be read."""
    db = Database.from_url(get_settings().database_url)
    try:
        if as_json:
            result = settle_file(db, file, fee_lines)
        else:
            with Progress(
                TextColumn("结算"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), transient=True
            ) as bar:
                task = bar.add_task("settle", total=None)
                result = settle_file(
                    db, file, fee_lines, progress=lambda done, n: bar.update(task, completed=done, total=n)
                )
    except RecordError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    finally:
        db.dispose()
    out = report or file.with_name(file.name + ".refused.csv")
    if result.refused:
        out.write_text(result.report_csv(), encoding="utf-8")
    _print(result, out, as_json)
    raise typer.Exit(1 if result.refused else 0)


def _print(result: FileResult, report: Path, as_json: bool) -> None:
    summary = result.summary() | {"report": str(report) if result.refused else None}
    if as_json:
        typer.echo(json.dumps(summary, ensure_ascii=False))
        return
    typer.echo(
        f"新结算 {result.settled} 笔（赔付 {summary['payout']} 元），已结算过 {result.replayed} 笔，拒收 {len(result.refused)} 笔"
    )
    for r in result.refused[:20]:
        typer.echo(f"第 {r['line']} 行 结算 {r['setl_id']}：{r['code']}（{r['field']}）{r['message']}", err=True)
    if result.refused:
        typer.echo(f"拒收明细：{report}", err=True)
