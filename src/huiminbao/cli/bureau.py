"""``hmb bureau import``: the bureau's settlement records, kept for claims to pick from."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import typer

from huiminbao.claims.bureau import record_bodies
from huiminbao.db.session import Database
from huiminbao.flows.settle_file import bodies
from huiminbao.identity import audit
from huiminbao.settings import get_settings
from huiminbao.settlement.reader import RecordError

app = typer.Typer(help="the bureau's settlement records (医保结算数据) that claims draw on", no_args_is_help=True)
BATCH = 2000


@app.command("import")
def import_records(
    file: Path = typer.Option(..., "--file", help="settlements (setlinfo), .csv or .parquet, national field names"),
    fee_lines: Path | None = typer.Option(None, "--fee-lines", help="their fee lines (feedetl), by setl_id"),
    report: Path | None = typer.Option(None, help="where to write refused records; default: FILE.refused.csv"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON document"),
) -> None:
    """Keep each record with the one-stop reader's checks (a record already kept with the same content is
    left as it is); refused records are listed with line, field and reason. Exits 1 when a record was
    refused, 2 when the file cannot be read."""
    try:
        rows = bodies(file, fee_lines)
    except RecordError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    db = Database.from_url(get_settings().database_url)
    stored = unchanged = 0
    refused: list[dict[str, object]] = []
    try:
        for start in range(0, len(rows), BATCH):
            chunk = rows[start : start + BATCH]
            with db.session() as session:
                result = record_bodies(session=session, actor=audit.CLI, bodies=[b for _, b in chunk])
            stored, unchanged = stored + result.stored, unchanged + result.unchanged
            refused += [
                {"line": chunk[r["index"]][0], **{k: v for k, v in r.items() if k != "index"}} for r in result.refused
            ]
    finally:
        db.dispose()
    out = report or file.with_name(file.name + ".refused.csv")
    if refused:
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=["line", "setl_id", "field", "message"])
        writer.writeheader()
        writer.writerows(refused)
        out.write_text(text.getvalue(), encoding="utf-8")
    summary = {
        "stored": stored,
        "unchanged": unchanged,
        "refused": len(refused),
        "report": str(out) if refused else None,
    }
    if as_json:
        typer.echo(json.dumps(summary, ensure_ascii=False))
    else:
        typer.echo(f"新存医保结算记录 {stored} 条，已有 {unchanged} 条，拒收 {len(refused)} 条")
        for r in refused[:20]:
            typer.echo(f"第 {r['line']} 行 结算 {r['setl_id']}：（{r['field']}）{r['message']}", err=True)
    raise typer.Exit(1 if refused else 0)
