"""``hmb estimate CASE.json``: what the plan would pay, saving nothing and needing no database."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from huiminbao.engine.prepare import EngineError
from huiminbao.plans import PlanError, PlanIncomplete, PlanNotFound
from huiminbao.settlement.estimate import estimate as run_estimate
from huiminbao.settlement.reader import RecordError


def estimate(
    case: Path = typer.Argument(..., help="CASE.json: plan, person, settlements (setlinfo + feedetl)"),
) -> None:
    """Estimate (试算) the payout of a case; prints JSON."""
    try:
        data = json.loads(case.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        typer.echo(f"{case}: cannot read the case: {exc}", err=True)
        raise typer.Exit(2) from exc
    try:
        result = run_estimate(data)
    except PlanNotFound as exc:
        typer.echo(f"{case}: plan: {exc}", err=True)
        raise typer.Exit(2) from exc
    except (RecordError, EngineError, PlanIncomplete, PlanError) as exc:
        typer.echo(f"{case}: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(json.dumps(result, ensure_ascii=False, indent=2))
