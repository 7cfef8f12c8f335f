"""What the HTTP benchmarks share: serving the app with ``hmb serve`` in a child process, a lean keep-alive
HTTP/1.1 client, closed-loop (saturation) and open-loop (steady rate) drivers, and the report line.

The client writes requests by hand: httpx alone would take about 1 ms of CPU per request from the two
cores the server is measured on.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from datetime import date
from pathlib import Path

import psutil

from huiminbao.cli.serve import spawn
from huiminbao.enrollment.roster_store import Keys
from huiminbao.identity.certno import make_certno

# a request: method, path, body bytes, extra headers; made at send time (signatures carry a timestamp)
Request = tuple[str, str, bytes, dict[str, str]]
PLAN = "liaocheng-2024"
TODAY = "2023-12-01"  # inside the plan's enrollment window
ENV = {  # the server's settings
    "HMB_SECRET_KEY": "bench-secret-key-of-at-least-32-bytes-long",
    "HMB_PII_KEY": "00112233445566778899aabbccddeeff",
    "HMB_PII_HASH_KEY": "ffeeddccbbaa99887766554433221100",
    "HMB_PAYMENT_SECRET": "bench-payment-secret",
    "HMB_TODAY": TODAY,
    "HMB_LOG_LEVEL": "WARNING",
}
KEYS = Keys(encrypt=bytes.fromhex(ENV["HMB_PII_KEY"]), hash=bytes.fromhex(ENV["HMB_PII_HASH_KEY"]))
HEADER = "psn_no,certno,psn_name,gend,brdy,insutype,insu_admdvs,psn_insu_stas,psn_insu_date,populations"


def write_roster(path: Path, persons: list[str], insutype: Callable[[int], str]) -> None:
    """The bureau's roster file for ``persons`` in Liaocheng (valid ID numbers, all insured since 2015)."""
    lines = [HEADER]
    for i, psn in enumerate(persons):
        birth = date(1950 + i % 60, 1 + i % 12, 1 + i % 28)
        certno = make_certno("371502", birth, i % 900 + 1)
        lines.append(f"{psn},{certno},参保人{i},{1 + i % 2},{birth},{insutype(i)},371502,1,2015-01-01,")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def serve(url: str, port: int, workers: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """``hmb serve`` on 127.0.0.1:port against ``url``; returns once /healthz answers."""
    try:
        return spawn(url, port, workers, env)
    except RuntimeError as exc:
        raise SystemExit(str(exc)) from None


def server_rss(server: subprocess.Popen[bytes]) -> int:
    """Resident memory of the supervisor and its workers, bytes."""
    root = psutil.Process(server.pid)
    return sum(p.memory_info().rss for p in [root, *root.children(recursive=True)])


class Connection:
    """One keep-alive HTTP/1.1 connection."""

    def __init__(self, host: str, port: int, headers: dict[str, str] | None = None) -> None:
        self.host, self.port, self.headers = host, port, headers or {}
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, payload: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        extra = "".join(f"{k}: {v}\r\n" for k, v in {**self.headers, **headers}.items())
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\n{extra}"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
        )
        self.writer.write(head.encode() + payload)
        status_line = await self.reader.readline()
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.lower() == "content-length":
                length = int(value)
        return int(status_line.split()[1]), await self.reader.readexactly(length)


def _answer(status: int, data: bytes) -> str:
    code = json.loads(data).get("code", "") if status >= 400 else ""
    return f"{status} {code}".strip()


async def drive(
    connections: list[Connection], requests: list[Callable[[], Request]]
) -> tuple[float, list[float], Counter[str]]:
    """Closed loop: each connection sends its next request as soon as the last is answered. Returns wall
    time, latencies (ms) and a count of the answers."""
    queue: asyncio.Queue[Callable[[], Request]] = asyncio.Queue()
    for r in requests:
        queue.put_nowait(r)
    latencies: list[float] = []
    answers: Counter[str] = Counter()

    async def worker(conn: Connection) -> None:
        while not queue.empty():
            method, path, payload, headers = queue.get_nowait()()
            started = time.perf_counter()
            status, data = await conn.request(method, path, payload, headers)
            latencies.append((time.perf_counter() - started) * 1000)
            answers[_answer(status, data)] += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in connections))
    return time.perf_counter() - started, latencies, answers


async def steady(
    connections: list[Connection], requests: list[Callable[[], Request]], rate: float
) -> tuple[float, list[float], Counter[str]]:
    """Open loop: request i is due at i / rate seconds; its latency counts from when it was due, so a
    server that falls behind shows it (no coordinated omission). Connections must outnumber the requests
    in flight at that rate."""
    free: asyncio.Queue[Connection] = asyncio.Queue()
    for c in connections:
        free.put_nowait(c)
    latencies: list[float] = []
    answers: Counter[str] = Counter()

    async def one(due: float, make: Callable[[], Request]) -> None:
        conn = await free.get()
        method, path, payload, headers = make()
        status, data = await conn.request(method, path, payload, headers)
        latencies.append((time.perf_counter() - due) * 1000)
        answers[_answer(status, data)] += 1
        free.put_nowait(conn)

    started = time.perf_counter()
    tasks = []
    for i, make in enumerate(requests):
        due = started + i / rate
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        tasks.append(asyncio.create_task(one(due, make)))
    await asyncio.gather(*tasks)
    return time.perf_counter() - started, latencies, answers


def report(name: str, wall: float, latencies: list[float], answers: Counter[str]) -> float:
    """Print requests/s, p50 and p99 latency and the answers; return requests/s."""
    cuts = statistics.quantiles(latencies, n=100)
    rate = len(latencies) / wall
    print(
        f"{name:<12} {rate:8.0f} req/s   p50 {cuts[49]:6.1f} ms   p99 {cuts[98]:6.1f} ms   answers {dict(answers)}",
        flush=True,
    )
    return rate
