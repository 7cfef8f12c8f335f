"""``hmb policy buy``: the counter's purchase, paid at once (INTERFACES.md)."""

from __future__ import annotations

import json

import typer

from huiminbao.db.session import Database
from huiminbao.enrollment.models import Channel, Relation
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
