"""``hmb serve``: run the web UI and REST API with uvicorn.

Binds to loopback by default: the platform holds personal medical data, so exposing it
on a network must be a deliberate ``--host`` choice behind a reverse proxy.
"""

from __future__ import annotations

from typing import Annotated

import typer

HostOpt = Annotated[str, typer.Option(envvar="HMB_HOST", help="interface to bind")]
PortOpt = Annotated[int, typer.Option(envvar="HMB_PORT", help="TCP port")]


def serve(
    host: HostOpt = "127.0.0.1",
    port: PortOpt = 8000,
    reload: Annotated[bool, typer.Option(help="restart on code changes (development)")] = False,
    migrate: Annotated[bool, typer.Option(help="apply database migrations before starting")] = False,
    workers: Annotated[int, typer.Option(min=1, envvar="HMB_WORKERS", help="worker processes (one per core)")] = 1,
) -> None:
    """Start the web server (惠民保运营平台) on HOST:PORT."""
    import uvicorn

    from huiminbao.settings import get_settings

    settings = get_settings()
    if migrate:
        from huiminbao.db import migrate as migrations

        migrations.upgrade(settings.database_url)
    typer.echo(f"惠民保运营平台: http://{host}:{port}/  (API docs: /docs)")
    uvicorn.run(
        "huiminbao.api.app:app",
        host=host,
        port=port,
        reload=reload,
        workers=None if reload else workers,
        log_level=settings.log_level.lower(),
        access_log=False,  # the app logs requests itself, without raw paths
    )


if __name__ == "__main__":
    typer.run(serve)
