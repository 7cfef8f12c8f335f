"""The ``hmb`` command: batch work on the engine, plans, the database and the server."""

from __future__ import annotations

import typer

from huiminbao.cli import actuarial as actuarial_cli
from huiminbao.cli import adjudicate as adjudicate_cli
from huiminbao.cli import bureau as bureau_cli
from huiminbao.cli import calendar as calendar_cli
from huiminbao.cli import catalog as catalog_cli
from huiminbao.cli import db as db_cli
from huiminbao.cli import estimate as estimate_cli
from huiminbao.cli import ibnr as ibnr_cli
from huiminbao.cli import identity as identity_cli
from huiminbao.cli import notify as notify_cli
from huiminbao.cli import plan as plan_cli
from huiminbao.cli import policy as policy_cli
from huiminbao.cli import replay as replay_cli
from huiminbao.cli import report as report_cli
from huiminbao.cli import roster as roster_cli
from huiminbao.cli import serve as serve_cli
from huiminbao.cli import service as service_cli
from huiminbao.cli import settle as settle_cli
from huiminbao.cli import synth as synth_cli
from huiminbao.cli import whatif as whatif_cli
from huiminbao.cli import yearend as yearend_cli

app = typer.Typer(help="惠民保 platform: plans, adjudication, synthetic data, database, server.", no_args_is_help=True)
app.add_typer(plan_cli.app, name="plan")
app.add_typer(catalog_cli.app, name="catalog")
app.add_typer(db_cli.app, name="db")
app.add_typer(identity_cli.users, name="users")
app.add_typer(identity_cli.hospital, name="hospital")
app.add_typer(identity_cli.audit_app, name="audit")
app.add_typer(identity_cli.keys, name="keys")
app.add_typer(roster_cli.app, name="roster")
app.add_typer(policy_cli.app, name="policy")
app.add_typer(calendar_cli.app, name="calendar")
app.add_typer(actuarial_cli.app, name="actuarial")
app.add_typer(bureau_cli.app, name="bureau")
app.add_typer(notify_cli.app, name="notify")
app.add_typer(service_cli.app, name="service")
app.add_typer(report_cli.app, name="report")
app.command("estimate")(estimate_cli.estimate)
app.command("adjudicate")(adjudicate_cli.adjudicate)
app.command("synth")(synth_cli.synth)
app.command("serve")(serve_cli.serve)
app.command("settle")(settle_cli.settle)
app.command("year-end")(yearend_cli.yearend)
app.command("replay")(replay_cli.replay)
app.command("whatif")(whatif_cli.whatif)
app.command("ibnr")(ibnr_cli.ibnr)

if __name__ == "__main__":  # pragma: no cover
    app()
