"""``hmb roster import``: the bureau's roster of basic insured persons (INTERFACES.md)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from huiminbao.db.session import Database
from huiminbao.enrollment.roster import RosterError
from huiminbao.enrollment.roster_store import ImportResult, Keys, import_roster
from huiminbao.identity import audit
from huiminbao.settings import get_settings, today

app = typer.Typer(help="基本医保参保人员名册 (the bureau's roster).", no_args_is_help=True)


def import_file(db: Database, path: Path) -> ImportResult:
    """One import in one transaction (the demo loader shares it)."""
    settings = get_settings()
    keys = Keys(encrypt=settings.pii_key_bytes, hash=settings.pii_hash_key_bytes)
    with db.session() as session:
        return import_roster(session=session, path=path, keys=keys, actor=audit.CLI, today=today())


@app.command("import")
def import_(
    file: Path = typer.Argument(..., help="roster .csv (UTF-8, BOM or not) or .xlsx (first sheet)"),
    report: Path | None = typer.Option(None, help="where to write rejected rows; default: FILE.rejected.csv"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON document"),
) -> None:
    """Insert new people, update changed ones (by psn_no), report each rejected row; suspend, end or resume
    policies whose basic insurance changed. Exits non-zero only when the file cannot be read at all."""
    if not file.is_file():
        typer.echo(f"{file}: 文件不存在", err=True)
        raise typer.Exit(2)
    db = Database.from_url(get_settings().database_url)
    try:
        result = import_file(db, file)
    except RosterError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    finally:
        db.dispose()
    out = report or file.with_name(file.name + ".rejected.csv")
    out.write_text(result.report_csv, encoding="utf-8")
    if as_json:
        typer.echo(json.dumps({**result.summary(), "import_id": result.id, "report": str(out)}, ensure_ascii=False))
        return
    typer.echo(
        f"名册 {file.name}：{result.rows} 行，新增 {result.inserted}，更新 {result.updated}，未变 {result.unchanged}，"
        f"拒收 {result.rejected}，保单状态变更 {result.policies_changed}；拒收明细：{out}"
    )
