"""A throwaway PostgreSQL cluster on 127.0.0.1, for the test suite and the benchmarks.

CI and a developer's machine have the Debian ``postgresql`` server binaries but no running server; this
starts one in a temporary folder (as the ``postgres`` system user when run as root, since PostgreSQL
refuses root) and removes it afterwards. ``durable=False`` turns off fsync and friends, which is right
for tests; benchmarks keep them on so their figures mean something.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class ClusterError(RuntimeError):
    """The server binaries are missing, or initdb / pg_ctl failed (the message holds their output)."""


def bindir() -> Path | None:
    found = glob.glob("/usr/lib/postgresql/*/bin/initdb")
    if not found:
        return None
    return Path(max(found, key=lambda p: int(Path(p).parts[-3]))).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _user_prefix(base: Path) -> list[str]:
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "postgres"], check=True)
    shutil.chown(base, "postgres", "postgres")
    return ["runuser", "-u", "postgres", "--"]


@contextmanager
def temporary_cluster(*, durable: bool = False, settings: dict[str, str] | None = None) -> Iterator[str]:
    """Start a cluster (``settings``: extra server settings); yield the SQLAlchemy URL of its ``postgres``
    database; stop and delete it."""
    binaries = bindir()
    if binaries is None:
        raise ClusterError("PostgreSQL server binaries not found; apt-get install -y postgresql")
    base = Path(tempfile.mkdtemp(prefix="hmb-pg-"))
    prefix = _user_prefix(base)
    data, log = base / "data", base / "server.log"
    port = free_port()

    def run(*args: str) -> None:
        proc = subprocess.run([*prefix, *args], cwd=base, capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            server_log = log.read_text() if log.exists() else ""
            raise ClusterError(f"{' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}\n{server_log}")

    opts = f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={base}"
    if not durable:
        opts += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    opts += "".join(f" -c {name}={value}" for name, value in (settings or {}).items())
    try:
        run(
            str(binaries / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
            "-N",
        )
        run(str(binaries / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", opts, "-w", "-t", "60", "start")
        try:
            yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
        finally:
            subprocess.run([*prefix, str(binaries / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"], cwd=base)
    finally:
        shutil.rmtree(base, ignore_errors=True)
