"""``hmb serve --workers N``: connections spread over the workers, a clean stop, a clear failure."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from huiminbao.db.pgcluster import free_port

pytestmark = pytest.mark.slow


def _serve(tmp_path: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "HMB_VAR_DIR": str(tmp_path), "HMB_LOG_LEVEL": "WARNING"}
    cmd = [sys.executable, "-m", "huiminbao.cli.main", "serve", "--port", str(port), "--workers", "2", "--migrate"]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def test_two_workers_share_the_connections_and_stop_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    server = _serve(tmp_path, port)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        clients = [httpx.Client(base_url=f"http://127.0.0.1:{port}") for _ in range(16)]
        assert all(c.get("/healthz").status_code == 200 for c in clients)
        sockets = {p.pid: p.net_connections() for p in psutil.Process(server.pid).children()}
        listening = {pid for pid, conns in sockets.items() if any(c.laddr.port == port and not c.raddr for c in conns)}
        serving = {pid for pid, conns in sockets.items() if any(c.laddr.port == port and c.raddr for c in conns)}
        assert len(listening) == 2, "each worker listens on the port itself"
        assert serving == listening, "the kernel spreads keep-alive connections over both"
        for c in clients:
            c.close()
        server.send_signal(signal.SIGTERM)
        assert server.wait(30) == 0
        assert not any(psutil.pid_exists(pid) for pid in listening)
    finally:
        if server.poll() is None:
            server.kill()


def test_workers_do_not_outlive_a_killed_supervisor(tmp_path: Path) -> None:
    port = free_port()
    server = _serve(tmp_path, port)
    deadline = time.monotonic() + 60
    workers: list[psutil.Process] = []
    while len(workers) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
        workers = [p for p in psutil.Process(server.pid).children() if "spawn_main" in " ".join(p.cmdline())]
    server.kill()
    server.wait(10)
    _, alive = psutil.wait_procs(workers, timeout=30)
    assert len(workers) == 2 and not alive


def test_a_taken_port_is_refused_at_once(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        server = _serve(tmp_path, taken.getsockname()[1])
        assert server.wait(60) != 0
        assert server.stderr is not None and b"Address already in use" in server.stderr.read()
