"""``hmb db``: schema migrations and the demo data set.

Kept apart from the web app so that batch hosts can migrate or load data without
starting a server; every command takes ``--url`` to work on another database than
the configured one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from huiminbao.db import migrate
from huiminbao.db.session import Database
from huiminbao.settings import get_settings

app = typer.Typer(help="数据库：迁移与演示数据 (database migrations and demo data).", no_args_is_help=True)

UrlOpt = Annotated[str | None, typer.Option("--url", help="SQLAlchemy URL; default: HMB_DATABASE_URL")]


def _url(url: str | None) -> str:
    return url or get_settings().database_url


@app.command()
def upgrade(url: UrlOpt = None, revision: str = typer.Option("head", help="target revision")) -> None:
    """Apply migrations up to REVISION (default: the newest)."""
    migrate.upgrade(_url(url), revision)
    typer.echo(f"database at revision {revision}")


@app.command()
def downgrade(
    revision: Annotated[str, typer.Argument(help="target revision, e.g. -1 or base")],
    url: UrlOpt = None,
) -> None:
    """Undo migrations down to REVISION."""
    migrate.downgrade(_url(url), revision)
    typer.echo(f"database at revision {revision}")


@app.command()
def current(url: UrlOpt = None) -> None:
    """Print the database's revision and the newest one available."""
    db = Database.from_url(_url(url))
    try:
        with db.engine.connect() as conn:
            typer.echo(f"current: {migrate.current_revision(conn) or '(none)'}  head: {migrate.head_revision()}")
    finally:
        db.dispose()


def default_roster() -> Path | None:
    """The demo city's roster, as ``hmb synth`` writes it under ``<var_dir>/demo``."""
    demo = get_settings().var_dir / "demo"
    return next((p for p in (demo / "roster.parquet", demo / "roster.csv") if p.exists()), None)


DEMO_PLAN = "liaocheng-2024"  # the demo city's plan: its synthetic city, roster and policies


@app.command("load-demo")
def load_demo(
    url: UrlOpt = None,
    roster: Annotated[
        Path | None, typer.Option(help="roster .csv or .parquet; default: <var_dir>/demo/roster.{parquet,csv}")
    ] = None,
    persons: Annotated[int, typer.Option(help="size of the demo city when one is generated")] = 20_000,
    claims: Annotated[
        bool, typer.Option(help="file the demo's claims (off: the year can be replayed one-stop whole)")
    ] = True,
    onestop: Annotated[
        bool, typer.Option(help="settle the holders' other stays one-stop (off: leave them to `hmb replay`)")
    ] = True,
) -> None:
    """Register the packaged plans, import the demo city's roster (generating the city first, ``hmb synth``:
    a synthetic Liaocheng 2024, when there is none yet), enroll its usual share in the plan, file the
    demo's claims on some of its stays (``claims.demo``), settle the policy holders' other stays of the
    year one-stop (``flows.demo_year``) and open complaints and inquiries about them (``service.demo``)."""
    from huiminbao.admin.plans import register_plans

    db = Database.from_url(_url(url))
    try:
        with db.session() as session:
            added, known = register_plans(session=session)
        typer.echo(f"plans: {added} registered, {known} already known")
        if roster is None and default_roster() is None:
            _make_demo_city(persons)
        _load_roster(db, roster or default_roster())
        _enroll_demo(db, DEMO_PLAN)
        city = _city_bodies() if claims or onestop else None
        if city is None:
            typer.echo(f"claims, one-stop: no demo city's settlements in {get_settings().var_dir / 'demo'}, skipped")
        else:
            if claims:
                _claims_demo(db, DEMO_PLAN, [body for _, body in city])
            if onestop:
                _onestop_demo(db, DEMO_PLAN, city)
        _cases_demo(db, DEMO_PLAN)
    finally:
        db.dispose()


def _enroll_demo(db: Database, plan_id: str) -> None:
    """Policies for the share of the demo city that buys (its profile's enrollment rate), as bought on the
    last day of the enrollment window; people who already hold one keep it."""
    from huiminbao.enrollment.bulk import enroll_share
    from huiminbao.identity import audit
    from huiminbao.plans import compiled_plan
    from huiminbao.synth.profile import city_profile

    compiled = compiled_plan(plan_id)
    share = city_profile(plan_id).enrollment_rate
    with db.session() as session:
        made = enroll_share(
            session=session, actor=audit.CLI, compiled=compiled, share=share,
            day=compiled.plan.enrollment.window.end, seed=2024,
        )  # fmt: skip
    typer.echo(f"policies: {made} made for {plan_id} (enrollment rate {share:.0%})")


def _city_bodies() -> list[tuple[int, dict[str, Any]]] | None:
    """The demo city's settlements as one-stop bodies (line, body) in ``setl_time`` order; None without one."""
    from huiminbao.flows.settle_file import bodies

    demo = get_settings().var_dir / "demo"
    found = {
        stem: next((p for p in (demo / f"{stem}.parquet", demo / f"{stem}.csv") if p.exists()), None)
        for stem in ("settlements", "fee_lines")
    }
    if found["settlements"] is None:
        return None
    return bodies(found["settlements"], found["fee_lines"])


def _claims_demo(db: Database, plan_id: str, city: list[dict[str, Any]]) -> None:
    """Bureau records for a share of the demo city's stays and claims on them in every state."""
    from huiminbao.claims.demo import Docs, load_claims
    from huiminbao.claims.models import ClaimState

    settings = get_settings()
    assert settings.documents_dir is not None
    docs = Docs(settings.documents_dir, settings.document_max_bytes, settings.documents_per_claim)
    with db.session() as session:
        made = load_claims(session=session, plan_id=plan_id, bodies=city, docs=docs)
    states = ", ".join(f"{s.value} {made.states.get(s, 0)}" for s in ClaimState)
    typer.echo(f"claims: {made.records} bureau records kept, {made.filed} claims filed; {states}")


def _onestop_demo(db: Database, plan_id: str, city: list[tuple[int, dict[str, Any]]]) -> None:
    """The policy holders' other stays of the year, settled one-stop in-process (``flows.demo_year``)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from huiminbao.flows.demo_year import settle_year
    from huiminbao.money import to_yuan

    columns = (TextColumn("一站式结算"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, transient=True) as bar:
        task = bar.add_task("onestop", total=None)
        done = settle_year(
            db, plan_id=plan_id, city=city, progress=lambda n, total: bar.update(task, completed=n, total=total)
        )
    refused = ", ".join(f"{code} {n}" for code, n in done.refused.most_common()) or "none"
    typer.echo(
        f"one-stop: {done.settled} settled now (payout {to_yuan(done.payout_fen)} yuan), {done.done} settled"
        f" before, {done.held} held by the claims, {done.uninsured} of persons without a policy; refused: {refused}"
    )


def _cases_demo(db: Database, plan_id: str) -> None:
    """Complaints and inquiries about the holders over the year, in every state (``service.demo``)."""
    from huiminbao.service.demo import load_cases
    from huiminbao.service.models import CaseStatus
    from huiminbao.service.service import Clock

    with db.session() as session:
        made = load_cases(session=session, plan_id=plan_id, clock=Clock.of(get_settings()))
    states = ", ".join(f"{s.value} {made.statuses.get(s, 0)}" for s in CaseStatus)
    typer.echo(f"service cases: {made.opened} opened; {states}; {made.overdue} overdue at the year's end")


def _make_demo_city(persons: int) -> None:
    from huiminbao.synth import generate_city, write_city

    out = get_settings().var_dir / "demo"
    city = generate_city(DEMO_PLAN, persons, seed=2024)
    write_city(city, out, "both")
    typer.echo(f"demo city: {persons:,} persons, {city.settlements.height:,} settlements written to {out}")


def _load_roster(db: Database, path: Path | None) -> None:
    if path is None or not path.exists():
        typer.echo(f"roster: {path or 'no demo roster'} not found, skipped (generate a demo city with `hmb synth`)")
        return
    from huiminbao.cli.roster import import_file
    from huiminbao.enrollment.roster import RosterError

    try:
        result = import_file(db, path)
    except RosterError as exc:
        typer.echo(f"roster: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(
        f"roster: {result.inserted} insured people loaded, {result.updated} updated, {result.unchanged} unchanged,"
        f" {result.rejected} rejected from {path}"
    )


if __name__ == "__main__":
    app()
