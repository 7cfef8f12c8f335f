"""Benchmark: one-stop settlement (``POST /api/v1/settlements``) under load, signed, on PostgreSQL, over
HTTP on 127.0.0.1.

    .venv/bin/python bench/settle.py                          # 2,000 persons, 2 workers
    .venv/bin/python bench/settle.py --persons 500 --rate 200 --workers 1

Starts a throwaway PostgreSQL cluster (fsync on), migrates it, imports a roster, gives every person a
Liaocheng 2024 policy, registers a hospital, and serves the app with ``hmb serve --workers N`` in a child
process. Then, in this process, each request signed with the hospital's secret at the moment it is sent
(HMAC-SHA256, a fresh nonce):

- baseline: ``GET /healthz`` at the same concurrency (what the server costs before any database work);
- the floor at issue 9's target rate (500/s), open loop: ``GET /healthz``, then a signed request to
  ``/api/v1/hospital/ping`` that does nothing but check its signature and record its nonce;
- steady: settlements at a fixed rate, open loop (latency counted from when each was due);
- saturation: settlements closed loop at the given concurrency (as fast as the server answers);
- hot person: 100 dear stays of one person sent at once on 100 connections; the person's payouts must
  stop exactly at the liability's annual limit and the stored accumulators must equal the engine's over
  the stays in the order they were locked.

Every settlement is a different stay (``setl_id``); the persons' stays arrive in date order. Prints
settlements/s and p50/p99 latency, the ratio to the baseline, and peak RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import tempfile
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import sqlalchemy as sa
from loadgen import ENV, KEYS, PLAN, TODAY, Connection, Request, drive, report, serve, server_rss, steady, write_roster

from huiminbao.db import Database, migrate
from huiminbao.db.pgcluster import free_port, temporary_cluster
from huiminbao.engine.adjudicate import adjudicate
from huiminbao.enrollment.models import Channel, Relation
from huiminbao.enrollment.purchase import Member, buy
from huiminbao.enrollment.roster_store import import_roster
from huiminbao.identity import audit
from huiminbao.identity.service import add_hospital
from huiminbao.plans import compiled_plan
from huiminbao.plans.loader import Compiled
from huiminbao.settlement.models import Accumulator, Settlement, SettlementLine
from huiminbao.settlement.reader import check_settlements, json_frame
from huiminbao.settlement.sender import PATH, signed_headers

HOSPITAL = "H37150200001"
HOT = "HOT000000"
HOT_SENDS = 100
PING = "/api/v1/hospital/ping"  # a signed route that does nothing else: the signature check's cost


def person(i: int) -> str:
    return f"S{i:08d}"


def prepare(url: str, persons: list[str]) -> str:
    """Roster, one policy per person, the hospital; returns the hospital's signing secret."""
    migrate.upgrade(url)
    db = Database.from_url(url)
    compiled = compiled_plan(PLAN)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "roster.csv"
        write_roster(path, persons, lambda _: "390")
        with db.session() as s:
            result = import_roster(session=s, path=path, keys=KEYS, actor=audit.CLI, today=date.fromisoformat(TODAY))
            assert result.rejected == 0, result.report_csv[:500]
        with db.session() as s:
            for psn in persons:
                buy(
                    session=s, actor=audit.CLI, compiled=compiled, payer_psn_no=psn, members=[Member(psn, Relation.SELF)],
                    channel=Channel.COUNTER, day=date.fromisoformat(TODAY), paid=True,
                )  # fmt: skip
            secret = add_hospital(
                session=s, actor=audit.CLI, key=KEYS.encrypt, code=HOSPITAL, name="聊城市人民医院", level=3
            )
    db.dispose()
    return secret


def stay(psn: str, k: int, n: int, factor: int) -> dict:
    """The k-th inpatient stay of the year for ``psn`` (seed 001's stroke stay, ``factor`` times as dear)."""
    end = date(2024, 1, 10) + timedelta(days=k * 3)
    amounts = {
        "medfee_sumamt": 32000, "fulamt_ownpay_amt": 2000, "overlmt_selfpay": 0, "preselfpay_amt": 0,
        "inscp_scp_amt": 30000, "act_pay_dedc": 800, "hifp_pay": 20000, "fund_pay_sumamt": 20000,
        "psn_part_amt": 12000, "acct_pay": 0, "psn_cash_pay": 12000,
    }  # fmt: skip
    info = {
        "setl_id": f"{psn}-{n:06d}", "psn_no": psn, "mdtrt_id": f"M{n}", "med_type": "21", "insutype": "390",
        "begndate": str(end - timedelta(days=2)), "enddate": str(end), "setl_time": f"{end} 10:00:00",
        "fixmedins_code": HOSPITAL, "insu_admdvs": "371502", "mdtrt_area_admvs": "371502", "refd_setl_flag": "0",
        **{k: f"{v * factor:.2f}" for k, v in amounts.items()},
    }  # fmt: skip
    return {"setlinfo": info, "feedetl": [], "diseases": ["I63.9"]}


def signed(secret: str, body: dict) -> Callable[[], Request]:
    """A request made at send time: the signature carries the time and a fresh nonce (INTERFACES.md)."""
    payload = json.dumps(body, ensure_ascii=False).encode("utf-8")
    return lambda: ("POST", PATH, payload, signed_headers(HOSPITAL, secret, "POST", PATH, payload))


def stream(secret: str, persons: list[str], start: int, count: int) -> list[Callable[[], Request]]:
    """Settlements ``start`` .. ``start + count``: persons in turn, each one's stays in date order."""
    return [
        signed(secret, stay(persons[n % len(persons)], n // len(persons), n, 1 + n % 3))
        for n in range(start, start + count)
    ]


async def run(port: int, secret: str, persons: list[str], args: argparse.Namespace) -> tuple[float, float]:
    conns = [Connection("127.0.0.1", port) for _ in range(max(args.concurrency, 64))]
    health = await drive(conns[: args.concurrency], [lambda: ("GET", "/healthz", b"", {})] * args.settlements)
    base = report("baseline", *health)
    floor = int(args.target * args.seconds)
    empty = await steady(conns, [lambda: ("GET", "/healthz", b"", {})] * floor, args.target)
    report(f"healthz {args.target:g}/s", *empty)
    ping = b"{}"
    pings = [lambda: ("POST", PING, ping, signed_headers(HOSPITAL, secret, "POST", PING, ping))] * floor
    signed_only = await steady(conns, pings, args.target)
    report(f"signed {args.target:g}/s", *signed_only)
    assert set(signed_only[2]) == {"200"}, signed_only[2]
    slow = await steady(conns, stream(secret, persons, 0, int(args.rate * args.seconds)), args.rate)
    report(f"steady {args.rate:g}/s", *slow)
    assert set(slow[2]) == {"200"}, slow[2]
    full = await drive(conns[: args.concurrency], stream(secret, persons, len(slow[1]), args.settlements))
    rate = report("saturation", *full)
    assert set(full[2]) == {"200"}, full[2]
    hot = [signed(secret, stay(HOT, k, k, 10)) for k in range(HOT_SENDS)]
    burst = await drive([Connection("127.0.0.1", port) for _ in range(HOT_SENDS)], hot)
    report("hot person", *burst)
    assert set(burst[2]) == {"200"}, burst[2]
    return base, rate


def check_hot(url: str, compiled: Compiled) -> int:
    """The hot person's payouts stop at the limit; the accumulators are the engine's in lock order."""
    db = Database.from_url(url)
    with db.session() as s:
        done = s.execute(
            sa.select(Settlement.id, Settlement.record, Settlement.payout_fen)
            .where(Settlement.setl_id.like(f"{HOT}-%"))
            .order_by(Settlement.id)
        ).all()
        inscope = s.scalar(
            sa.select(sa.func.sum(SettlementLine.payout))
            .join(Settlement)
            .where(Settlement.setl_id.like(f"{HOT}-%"), SettlementLine.liability == "inpatient_inscope")
        )
        state = dict(s.execute(sa.select(Accumulator.key, Accumulator.value).where(Accumulator.psn_no == HOT)).all())
    db.dispose()
    rows = []
    for i, (_, text, _) in enumerate(done):
        body = json.loads(text)
        rows.append(
            {**body["setlinfo"], "setl_time": f"2024-12-01 00:{i // 60:02d}:{i % 60:02d}", "diseases": body["diseases"]}
        )
    insured = pl.DataFrame({"psn_no": [HOT], "insutype": ["390"], "birth_date": [date(1960, 1, 1)]})
    batch = adjudicate(compiled, check_settlements(json_frame(rows), "结算"), insured)
    assert [p for _, _, p in done] == batch.settlements["payout"].to_list(), (
        "payouts differ from the engine in lock order"
    )
    assert state == dict(batch.accumulators.select("key", "value").iter_rows()), "accumulators differ"
    limit = next(x for x in compiled.tier(None).spec.liabilities if x.id == "inpatient_inscope").limit
    assert limit is not None and int(inscope) == limit.amount, (inscope, limit)
    return int(inscope)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--persons", type=int, default=2000)
    ap.add_argument("--settlements", type=int, default=4000, help="sent at saturation (and health checks)")
    ap.add_argument("--rate", type=float, default=150, help="settlements/s of the steady run")
    ap.add_argument("--seconds", type=float, default=10, help="length of the steady runs")
    ap.add_argument("--target", type=float, default=500, help="issue 9's rate: the floor runs send at it")
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    persons = [person(i) for i in range(args.persons)]
    compiled = compiled_plan(PLAN)
    with temporary_cluster(durable=True, settings={"max_wal_size": "4GB"}) as url:
        started = time.perf_counter()
        secret = prepare(url, [*persons, HOT])
        print(
            f"prepared {len(persons) + 1:,} persons with policies in {time.perf_counter() - started:.1f} s", flush=True
        )
        port = free_port()
        server = serve(url, port, args.workers, ENV)
        try:
            base, rate = asyncio.run(run(port, secret, persons, args))
            rss = server_rss(server)
        finally:
            server.terminate()
            server.wait(30)
        paid = check_hot(url, compiled)
    print(f"hot person: OK ({HOT_SENDS} at once: paid {paid / 100:,.2f} yuan, exactly the annual limit; engine-equal)")
    print(f"settlements / baseline: {rate / base:.2f}   workers {args.workers}, concurrency {args.concurrency}")
    print(
        f"peak RSS: bench {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB, server {rss / 2**20:,.0f} MB"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
