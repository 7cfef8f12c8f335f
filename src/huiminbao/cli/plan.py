"""``hmb plan``: check, list and show plan files."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from huiminbao.money import bp_to_percent, to_yuan
from huiminbao.plans import PlanError, PlanNotFound, compiled_plan, list_plans, load_plan_file, missing_figures
from huiminbao.settlement.examples import examples_file, load_examples, run_example

app = typer.Typer(help="Plan files: check, list, show, test.", no_args_is_help=True)
STATUS = {"official": "正式文件", "news": "新闻稿", "from_qa": "问答页整理", "illustrative": "示意数据"}


@app.command("check")
def check(files: list[Path]) -> None:
    """Validate plan files; errors name the file and the field."""
    bad = 0
    for f in files:
        try:
            compiled = load_plan_file(f)
        except PlanError as exc:
            bad += 1
            typer.echo(str(exc), err=True)
            continue
        gaps = [m for t in compiled.plan.tiers for m in missing_figures(compiled.plan, t)]
        note = f" ({len(gaps)} figure(s) unknown: cannot adjudicate)" if gaps else ""
        typer.echo(f"{f}: ok, plan {compiled.plan.id}{note}")
        for g in gaps:
            typer.echo(f"  unknown: {g}")
    raise typer.Exit(1 if bad else 0)


@app.command("list")
def list_() -> None:
    """The plans the platform knows."""
    table = Table("id", "城市", "年度", "名称", "状态", "档次")
    for p in list_plans():
        table.add_row(p.id, p.city, str(p.year), p.name, STATUS[p.status.value], ", ".join(t.id for t in p.tiers))
    Console().print(table)


@app.command("show")
def show(plan_id: str, as_json: bool = typer.Option(False, "--json", help="the whole plan as JSON")) -> None:
    """One plan: its liabilities, or everything as JSON."""
    try:
        compiled = compiled_plan(plan_id)
    except PlanNotFound as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from exc
    plan = compiled.plan
    if as_json:
        typer.echo(json.dumps(plan.model_dump(mode="json"), ensure_ascii=False, indent=2))
        return
    console = Console()
    console.print(f"[bold]{plan.name}[/] {plan.city} {plan.year}  ({STATUS[plan.status.value]})")
    for tier in plan.tiers:
        table = Table("责任", "免赔额", "比例", "年度限额", title=f"{tier.name} ({tier.id})")
        for liab in tier.ordered():
            d = liab.deductible
            ded = to_yuan(d.amount) if d.amount is not None else (f"共用 {d.shared}" if d.shared else "未知")
            lim = (
                "—" if liab.limit is None else (to_yuan(liab.limit.amount) if liab.limit.amount is not None else "未知")
            )
            table.add_row(liab.name, ded, bp_to_percent(liab.ratio.default), lim)
        console.print(table)


@app.command("test")
def test(
    plan_ids: list[str] = typer.Argument(None, help="plans to test (default: every plan with a tests file)"),
    as_json: bool = typer.Option(False, "--json", help="one JSON document with each case's result"),
) -> None:
    """Run each plan's worked examples (plans/data/<id>.tests.yaml) through the estimate."""
    ids = plan_ids or [p.id for p in list_plans() if examples_file(p.id).exists()]
    results: list[dict[str, object]] = []
    try:
        for plan_id in ids:
            path = examples_file(plan_id)
            if not path.exists():
                typer.echo(f"{plan_id}: no worked examples ({path.name})", err=True)
                raise typer.Exit(2)
            for ex in load_examples(path):
                results.append({"plan": plan_id, "name": ex.name, "problems": run_example(plan_id, ex)})
    except (PlanNotFound, PlanError) as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from exc
    failed = [r for r in results if r["problems"]]
    if as_json:
        typer.echo(json.dumps({"passed": len(results) - len(failed), "failed": failed}, ensure_ascii=False))
    else:
        for r in failed:
            for problem in r["problems"]:  # type: ignore[attr-defined]
                typer.echo(f"FAIL {r['plan']} · {r['name']}: {problem}")
        typer.echo(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    raise typer.Exit(1 if failed else 0)
