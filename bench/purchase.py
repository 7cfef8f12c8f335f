"""Benchmark: the purchase API under load, on PostgreSQL, over HTTP on 127.0.0.1.

    .venv/bin/python bench/purchase.py                          # 3,000 orders, 8 at a time, 2 workers
    .venv/bin/python bench/purchase.py --orders 1000 --concurrency 16 --workers 1

Starts a throwaway PostgreSQL cluster (fsync on), migrates it, imports a roster, creates a counter clerk,
and serves the app with ``hmb serve --workers N`` in a child process. Then, in this process: a baseline (``GET /healthz``, the same number of requests at the same concurrency: what the
server costs before any database work), the purchases (``POST /api/v1/policies``, one member each, every
order for a different person, paid at the counter), and a burst of 50 identical orders at once for one
family (requests go over plain keep-alive HTTP/1.1 connections written by hand: httpx alone would take
about 1 ms of CPU per request from the two cores the server is measured on), after which the database must hold exactly one policy per family member and 49 orders must have
been refused. Prints requests/s and p50/p99 latency for both, their ratio, and peak RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import tempfile
from collections.abc import Callable
from datetime import date
from pathlib import Path

import httpx
import sqlalchemy as sa
from loadgen import ENV, KEYS, PLAN, TODAY, Connection, Request, drive, report, serve, server_rss, write_roster

from huiminbao.db import Database, migrate
from huiminbao.db.pgcluster import free_port, temporary_cluster
from huiminbao.enrollment.models import InsuredPerson, Policy
from huiminbao.enrollment.roster_store import import_roster
from huiminbao.identity import audit
from huiminbao.identity.models import Role
from huiminbao.identity.service import create_user

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "correct horse 42"
BURST = 50


def prepare(url: str, people: int) -> None:
    migrate.upgrade(url)
    db = Database.from_url(url)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "roster.csv"
        write_roster(path, [f"B{i:09d}" for i in range(people)], lambda i: "310" if i % 3 == 0 else "390")
        with db.session() as s:
            result = import_roster(session=s, path=path, keys=KEYS, actor=audit.CLI, today=date.fromisoformat(TODAY))
            create_user(
                session=s, actor=audit.CLI, username="clerk", role=Role.CLERK, password=PASSWORD, insurer_code="PICC"
            )
    assert result.rejected == 0, result.report_csv[:500]
    db.dispose()


def order(payer: str, members: list[tuple[str, str]]) -> dict:
    return {
        "plan": PLAN,
        "payer": payer,
        "channel": "counter",
        "members": [{"psn_no": p, "relation": r} for p, r in members],
    }


def post(path: str, body: dict) -> Callable[[], Request]:
    payload = json.dumps(body).encode()
    return lambda: ("POST", path, payload, {})


async def run(base: str, orders: int, concurrency: int, people: int) -> tuple[float, float]:
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        token = (await client.post("/api/v1/auth/token", data={"username": "clerk", "password": PASSWORD})).json()
    host, port = base.removeprefix("http://").split(":")
    bearer = {"Authorization": f"Bearer {token['access_token']}"}
    pool = [Connection(host, int(port), bearer) for _ in range(concurrency)]
    health = await drive(pool, [lambda: ("GET", "/healthz", b"", {})] * orders)
    base_rate = report("baseline", *health)
    buys = [post("/api/v1/policies", order(f"B{i:09d}", [(f"B{i:09d}", "self")])) for i in range(orders)]
    bought = await drive(pool, buys)
    rate = report("purchases", *bought)
    assert set(bought[2]) == {"201"}, bought[2]
    family = [(f"B{i:09d}", r) for i, r in zip(range(people - 3, people), ("self", "spouse", "child"), strict=True)]
    burst_pool = [Connection(host, int(port), bearer) for _ in range(BURST)]
    burst = await drive(burst_pool, [post("/api/v1/policies", order(family[0][0], family))] * BURST)
    report("burst", *burst)
    assert burst[2]["201"] == 1 and burst[2]["201"] + burst[2]["422 already_insured"] == BURST, burst[2]
    return base_rate, rate


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--orders", type=int, default=3000)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    people = args.orders + 100
    with temporary_cluster(durable=True, settings={"max_wal_size": "4GB"}) as url:
        prepare(url, people)
        port = free_port()
        server = serve(url, port, args.workers, ENV)
        try:
            base_rate, rate = asyncio.run(run(f"http://127.0.0.1:{port}", args.orders, args.concurrency, people))
            rss = server_rss(server)
        finally:
            server.terminate()
            server.wait(30)
        db = Database.from_url(url)
        with db.session() as s:
            family = [f"B{i:09d}" for i in range(people - 3, people)]
            held = s.execute(
                sa.select(InsuredPerson.psn_no, sa.func.count(Policy.id))
                .join(Policy, Policy.person_id == InsuredPerson.id)
                .where(InsuredPerson.psn_no.in_(family), Policy.plan_id == PLAN)
                .group_by(InsuredPerson.psn_no)
            ).all()
        db.dispose()
    assert sorted(held) == [(p, 1) for p in family], held
    print(f"burst: OK ({BURST} orders for one family at once: one order placed, one policy per member)")
    print(f"purchases / baseline: {rate / base_rate:.2f}   workers {args.workers}, concurrency {args.concurrency}")
    print(
        f"peak RSS: bench {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB, server {rss / 2**20:,.0f} MB"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
