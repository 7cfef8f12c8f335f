"""The ``hmb`` command: batch work on the engine, plans, the database and the server.

A command's module is imported only when that command runs (or when help lists it): before, every
``hmb`` call imported every command's dependencies (the web app, the database, the actuarial
extracts, the PDF fonts), which was about half of a 1 M-record ``hmb adjudicate`` as a process.
Adding a command is one line in ``GROUPS`` or ``COMMANDS``: name -> (module under ``huiminbao.cli``,
attribute).
"""

from __future__ import annotations

from importlib import import_module

import click
import typer
from typer.core import TyperGroup

GROUPS = {
    "plan": ("plan", "app"),
    "catalog": ("catalog", "app"),
    "db": ("db", "app"),
    "users": ("identity", "users"),
    "hospital": ("identity", "hospital"),
    "audit": ("identity", "audit_app"),
    "keys": ("identity", "keys"),
    "roster": ("roster", "app"),
    "policy": ("policy", "app"),
    "calendar": ("calendar", "app"),
    "actuarial": ("actuarial", "app"),
    "bureau": ("bureau", "app"),
    "notify": ("notify", "app"),
    "service": ("service", "app"),
    "report": ("report", "app"),
}
COMMANDS = {
    "estimate": ("estimate", "estimate"),
    "adjudicate": ("adjudicate", "adjudicate"),
    "synth": ("synth", "synth"),
    "serve": ("serve", "serve"),
    "settle": ("settle", "settle"),
    "year-end": ("yearend", "yearend"),
    "replay": ("replay", "replay"),
    "whatif": ("whatif", "whatif"),
    "ibnr": ("ibnr", "ibnr"),
}


class _OnDemand(TyperGroup):
    """The commands of ``GROUPS`` and ``COMMANDS``, each built from its module when asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*GROUPS, *COMMANDS]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in GROUPS:
            module, attr = GROUPS[cmd_name]
            command: click.Command = typer.main.get_group(getattr(import_module(f"huiminbao.cli.{module}"), attr))
        elif cmd_name in COMMANDS:
            module, attr = COMMANDS[cmd_name]
            one = typer.Typer()
            one.command(cmd_name)(getattr(import_module(f"huiminbao.cli.{module}"), attr))
            command = typer.main.get_command(one)
        else:
            return None
        command.name = cmd_name
        return command


app = typer.Typer(
    cls=_OnDemand, help="惠民保 platform: plans, adjudication, synthetic data, database, server.", no_args_is_help=True
)


@app.callback()
def _hmb() -> None:
    """惠民保 platform: plans, adjudication, synthetic data, database, server."""


if __name__ == "__main__":  # pragma: no cover
    app()
