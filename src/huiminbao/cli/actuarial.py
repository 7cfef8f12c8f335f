"""``hmb actuarial extract --plan ID --out FILE``: a plan's settlements de-identified for actuaries, as CSV,
JSON or Parquet by the file's extension (``actuarial.extract``); audited as the CLI's."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import typer

from huiminbao.actuarial.extract import Format, export
from huiminbao.db.session import Database
from huiminbao.identity import audit
from huiminbao.plans import PlanError, PlanNotFound, load_plan
from huiminbao.settings import get_settings

app = typer.Typer(help="精算 (actuarial data).", no_args_is_help=True)


@app.command("extract")
def extract(
    plan: str = typer.Option(..., help="plan id, e.g. liaocheng-2024"),
    out: Path = typer.Option(..., help="the file to write: .csv, .json (yuan) or .parquet (int64 *_fen)"),
    start: datetime | None = typer.Option(None, formats=["%Y-%m-%d"], help="first settlement day, included"),
    end: datetime | None = typer.Option(None, formats=["%Y-%m-%d"], help="last settlement day, included"),
    lines: bool = typer.Option(False, "--lines", help="one row per settlement and liability"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON document"),
) -> None:
    """Write the plan's settlements without identities (pseudonymous person keys, 5-year age bands, the
    city, hospital level, dates to the day; cells under 10 persons generalised), one row each with the
    payout per liability, or one row per liability line with ``--lines``."""
    fmt = next((f for f in Format if out.name.lower().endswith(f".{f.value}")), None)
    if fmt is None:
        typer.echo(f"{out}：文件应为 .csv、.json 或 .parquet", err=True)
        raise typer.Exit(2)
    first, last = (d.date() if d else None for d in (start, end))
    if first and last and first > last:
        typer.echo("--start：开始日期不能晚于结束日期", err=True)
        raise typer.Exit(2)
    settings = get_settings()
    db = Database.from_url(settings.database_url)
    try:
        with db.session() as s:
            found = export(
                session=s, actor=audit.CLI, plan=load_plan(plan), key=settings.actuarial_key_bytes, fmt=fmt,
                start=first, end=last, lines=lines,
            )  # fmt: skip
    except (PlanError, PlanNotFound) as exc:
        typer.echo(f"方案 {plan}：{exc}", err=True)
        raise typer.Exit(2) from None
    finally:
        db.dispose()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(found.data)
    if as_json:
        typer.echo(json.dumps({"plan": plan, "out": str(out), "rows": found.rows, "persons": found.persons}))
        return
    typer.echo(f"{plan}：{found.rows} 行，{found.persons} 人，已写入 {out}")
