"""``hmb policy buy``: the counter's purchase, paid at once (INTERFACES.md)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from huiminbao.db.session import Database
from huiminbao.enrollment.lifecycle import renew
from huiminbao.enrollment.models import Channel, Relation
from huiminbao.enrollment.payment import PaymentError, deduction_file, import_deduction_results
from huiminbao.enrollment.purchase import Member, PurchaseRefused, buy, order_view
from huiminbao.identity import audit
from huiminbao.plans import PlanNotFound, compiled_plan
from huiminbao.settings import get_settings, today

app = typer.Typer(help="保单 (policies).", no_args_is_help=True)


def _member(text: str) -> Member:
    psn_no, _, relation = text.partition(":")
    try:
        return Member(psn_no.strip(), Relation(relation.strip() or "self"))
    except ValueError:
        names = ", ".join(r.value for r in Relation)
        raise typer.BadParameter(f"{text}: 关系应为 {names} 之一", param_hint="--member") from None


@app.command("buy")
def buy_(
    plan: str = typer.Option(..., help="plan id, e.g. liaocheng-2024"),
    payer: str = typer.Option(..., help="the payer's psn_no"),
    member: list[str] = typer.Option(..., help="PSN_NO:RELATION, once per insured member"),
    channel: Channel = typer.Option(..., help="how it is paid"),
    tier: str | None = typer.Option(None, help="tier id; default: the plan's (or the one the person is assigned)"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON document"),
) -> None:
    """Buy for the members in one order, paid at once; a refusal names the member and the rule and buys nothing."""
    members = [_member(m) for m in member]
    try:
        compiled = compiled_plan(plan)
    except PlanNotFound:
        typer.echo(f"plan: 没有计划 {plan}", err=True)
        raise typer.Exit(2) from None
    db = Database.from_url(get_settings().database_url)
    try:
        with db.session() as session:
            order = buy(
                session=session, actor=audit.CLI, compiled=compiled, payer_psn_no=payer, members=members,
                channel=channel, day=today(), tier=tier, paid=True,
            )  # fmt: skip
            view = order_view(session=session, order=order)
    except PurchaseRefused as exc:
        body = {"code": exc.code.value, "message": exc.message, "field": exc.field, "psn_no": exc.psn_no}
        if as_json:
            typer.echo(json.dumps(body, ensure_ascii=False))
        else:
            typer.echo(f"{exc.code.value}: {exc.message}", err=True)
        raise typer.Exit(3) from None
    finally:
        db.dispose()
    if as_json:
        typer.echo(json.dumps(view, ensure_ascii=False))
        return
    typer.echo(f"订单 {view['order']}（{view['status']}），合计 {view['total']} 元")
    for p in view["policies"]:
        typer.echo(
            f"  {p['policy_no']}  {p['psn_no']}  {p['tier']}  {p['premium']} 元  {p['status']}  {p['cover_start']} 至 {p['cover_end']}"
        )


deductions = typer.Typer(
    help="医保个人账户扣款文件 (personal-account deductions with the bureau).", no_args_is_help=True
)
app.add_typer(deductions, name="deductions")


@deductions.command("export")
def export_deductions(
    plan: str = typer.Option(..., help="plan id"),
    out: Path = typer.Option(..., help="CSV to write: order_no, psn_no, amount"),
) -> None:
    """Write the pending personal-account orders for the bureau to deduct."""
    db = Database.from_url(get_settings().database_url)
    try:
        with db.session() as session:
            text = deduction_file(session=session, plan_id=plan)
    finally:
        db.dispose()
    out.write_text(text, encoding="utf-8")
    typer.echo(f"{out}: {text.count(chr(10)) - 1} 笔待扣款")


@deductions.command("import")
def import_deductions(
    file: Path = typer.Argument(..., help="the bureau's results: order_no, result (paid|failed), reason"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON document"),
) -> None:
    """Apply the bureau's deduction results: paid orders' policies become active; failures are recorded
    with their reason. A file already imported changes nothing; a bad line stops the import, naming it."""
    if not file.is_file():
        typer.echo(f"{file}: 文件不存在", err=True)
        raise typer.Exit(2)
    db = Database.from_url(get_settings().database_url)
    try:
        with db.session() as session:
            counts = import_deduction_results(
                session=session, actor=audit.CLI, text=file.read_text(encoding="utf-8-sig"), day=today()
            )
    except PaymentError as exc:
        typer.echo(f"{file}: {exc.message}", err=True)
        raise typer.Exit(2) from None
    finally:
        db.dispose()
    if as_json:
        typer.echo(json.dumps(counts))
        return
    typer.echo(f"扣款成功 {counts['paid']}，失败 {counts['failed']}，已处理过 {counts['repeated']}")


@app.command("renew")
def renew_(
    from_plan: str = typer.Option(..., "--from", help="last year's plan id"),
    to_plan: str = typer.Option(..., "--to", help="next year's plan id"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON document"),
) -> None:
    """Renew last year's policyholders who consented into next year's plan (orders wait for payment);
    prints who was renewed and who was not, with the reason."""
    try:
        old, new = compiled_plan(from_plan), compiled_plan(to_plan)
    except PlanNotFound as exc:
        typer.echo(f"plan: 没有计划 {exc}", err=True)
        raise typer.Exit(2) from None
    db = Database.from_url(get_settings().database_url)
    try:
        with db.session() as session:
            result = renew(session=session, actor=audit.CLI, old=old, new=new, day=today())
    finally:
        db.dispose()
    if as_json:
        typer.echo(json.dumps({"renewed": result.renewed, "not_renewed": result.not_renewed}, ensure_ascii=False))
        return
    typer.echo(f"续保 {len(result.renewed)} 人，未续保 {len(result.not_renewed)} 人")
    for r in result.not_renewed:
        typer.echo(f"  未续保 {r['psn_no']}（{r['policy_no']}）：{r['reason']}")
