"""``hmb serve``: run the web UI and REST API with uvicorn.

Binds to loopback by default: the platform holds personal medical data, so exposing it
on a network must be a deliberate ``--host`` choice behind a reverse proxy.

With ``--workers N`` each worker process opens its own listening socket on the same port with
``SO_REUSEPORT``, so the kernel spreads new connections over the workers. uvicorn's own workers share
one socket, and a burst of keep-alive connections then lands almost entirely on whichever worker
wakes first (measured: 31 of 32 connections on one of two workers), leaving the other core idle.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import time
from multiprocessing.connection import wait
from typing import Annotated

import typer

HostOpt = Annotated[str, typer.Option(envvar="HMB_HOST", help="interface to bind")]
PortOpt = Annotated[int, typer.Option(envvar="HMB_PORT", help="TCP port")]
APP = "huiminbao.api.app:app"
PR_SET_PDEATHSIG = 1  # prctl(2)
STARTUP_SECONDS = 10  # a worker that dies sooner than this is broken (bad settings, port taken): stop all


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
    log_level = settings.log_level.lower()
    if workers == 1 or reload:
        uvicorn.run(APP, host=host, port=port, reload=reload, log_level=log_level, access_log=False)
        return
    _listener(host, port).close()  # fail here, once, if the port is taken
    raise typer.Exit(_supervise(host, port, log_level, workers))


def _listener(host: str, port: int) -> socket.socket:
    """A listening socket of its own on HOST:PORT that other workers may bind as well."""
    # IPPROTO_TCP named, not 0: asyncio sets TCP_NODELAY only on sockets that say they are TCP, and without
    # it a response written in two parts waits out the client's delayed ACK (measured: 44 ms a request).
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    return sock


def _worker(host: str, port: int, log_level: str, parent: int) -> None:
    import uvicorn

    _die_with(parent)

    config = uvicorn.Config(APP, log_level=log_level, access_log=False)
    uvicorn.Server(config).run(sockets=[_listener(host, port)])


def _die_with(parent: int) -> None:
    """On Linux a worker is sent SIGTERM when the supervisor dies, even by SIGKILL, rather than serving on
    unsupervised with the port still taken."""
    try:
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # not Linux: the supervisor's own SIGTERM handling still applies
        return
    if os.getppid() != parent:  # it died before the request was made
        os.kill(os.getpid(), signal.SIGTERM)


def _supervise(host: str, port: int, log_level: str, workers: int) -> int:
    """Start the workers, restart one that dies after it had started, and stop them all on SIGINT or
    SIGTERM (each finishes its requests in flight). The exit code: 0, or 1 when a worker failed to start."""
    ctx = multiprocessing.get_context("spawn")
    running: dict[multiprocessing.process.BaseProcess, float] = {}  # worker -> when it was started
    stopping = False

    def start() -> None:
        proc = ctx.Process(target=_worker, args=(host, port, log_level, os.getpid()), name="hmb-worker")
        proc.start()
        running[proc] = time.monotonic()

    def stop(_signum: int = signal.SIGTERM, _frame: object = None) -> None:
        nonlocal stopping
        stopping = True
        for proc in running:
            if proc.is_alive():
                proc.terminate()

    for _ in range(workers):
        start()
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    code = 0
    while running:
        wait([p.sentinel for p in running], timeout=1)
        for proc in [p for p in running if not p.is_alive()]:
            started = running.pop(proc)
            proc.join()
            if stopping:
                continue
            if time.monotonic() - started < STARTUP_SECONDS:
                typer.echo(f"worker {proc.pid} exited with {proc.exitcode} while starting: stopping", err=True)
                code = 1
                stop()
            else:
                typer.echo(f"worker {proc.pid} exited with {proc.exitcode}: restarting it", err=True)
                start()
    return code


if __name__ == "__main__":
    typer.run(serve)


def spawn(url: str, port: int, workers: int, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """``hmb serve`` on 127.0.0.1:PORT against database URL in a child process, for tools that drive the
    API (``hmb replay``, the benchmarks); returns once ``/healthz`` answers. Its logs go to a temporary
    file (a pipe nobody reads would fill and stop the server), shown if it fails to start."""
    import tempfile

    import httpx

    cmd = [sys.executable, "-m", "huiminbao.cli.main", "serve", "--port", str(port), "--workers", str(workers)]
    full = {**os.environ, **(env or {}), "HMB_DATABASE_URL": url}
    with tempfile.TemporaryFile() as log:  # the child keeps its own handle on the (unlinked) file
        server = subprocess.Popen(cmd, env=full, stdout=log, stderr=log)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and server.poll() is None:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    return server
            except httpx.HTTPError:
                time.sleep(0.2)
        server.kill()
        server.wait()
        log.seek(0)
        raise RuntimeError(f"server did not start: {log.read().decode(errors='replace')[-4000:]}")


def stop(server: subprocess.Popen[bytes], seconds: float = 60) -> None:
    """Stop a server from ``spawn``: SIGTERM (workers finish their requests and seal the audit log),
    SIGKILL if it has not exited within ``seconds``."""
    server.terminate()
    try:
        server.wait(seconds)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()
