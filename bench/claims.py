"""Benchmark: claims volume on PostgreSQL — filing, approving, and the adjusters' queue at 100,000 claims.

    .venv/bin/python bench/claims.py                                   # 10,000 claims filed and approved, 100,000 queued
    .venv/bin/python bench/claims.py --persons 600 --claims 1000 --total 5000   # a quick look

Starts a throwaway PostgreSQL cluster (fsync on), migrates it, generates a synthetic Liaocheng 2024 city,
imports its roster, gives every person a policy, and keeps the city's stays as the bureau's records. Then,
in this process, through the claims services (each batch one transaction, as the API's would be):

- baseline: the first stays settled one-stop by ``settle_many`` (rolled back), settlements/s;
- filing: ``file_claim`` at the counter, one stay a claim (every tenth claim two), claims/s;
- approving: ``take`` + ``decide`` (all approved; two-stay claims partly), which settles each stay through
  the one-stop engine with the person's accumulators, claims/s and the ratio to the baseline;
- the queue: the claim table filled to ``--total`` claims (bulk rows, states and due dates spread over the
  year), then each of ``URLS`` fetched ``--requests`` times from ``hmb serve`` as an adjuster (bearer
  token and web session both, so a web page can be timed too): p50/p95 ms, checked under 200 ms, and the
  ratio to the same URLs at the first 1,000 claims; and ``EXPLAIN ANALYZE`` of the queue's query.

Prints peak RSS of this process and of the server.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import httpx
import sqlalchemy as sa
from loadgen import ENV, PLAN, Connection, serve, server_rss

ENV = {**ENV, "HMB_TODAY": "2024-12-16"}  # a Monday late in the plan year: the queue's clock
os.environ.update(ENV)  # this process's services encrypt and date as the server does

from huiminbao.calendar import default_calendar  # noqa: E402
from huiminbao.claims import review  # noqa: E402
from huiminbao.claims.bureau import record_bodies  # noqa: E402
from huiminbao.claims.models import Claim, ClaimChannel, ClaimState, RejectReason  # noqa: E402
from huiminbao.claims.review import Decision  # noqa: E402
from huiminbao.claims.service import ClaimRefused, file_claim, get_claim_or_raise  # noqa: E402
from huiminbao.claims.states import OPEN  # noqa: E402
from huiminbao.cli.roster import import_file  # noqa: E402
from huiminbao.db import Database, migrate  # noqa: E402
from huiminbao.db.pgcluster import free_port, temporary_cluster  # noqa: E402
from huiminbao.enrollment.bulk import enroll_share  # noqa: E402
from huiminbao.enrollment.models import InsuredPerson, Policy  # noqa: E402
from huiminbao.flows.onestop import batches  # noqa: E402
from huiminbao.flows.settle_file import bodies  # noqa: E402
from huiminbao.identity import audit  # noqa: E402
from huiminbao.identity.models import Role, User  # noqa: E402
from huiminbao.identity.service import create_user  # noqa: E402
from huiminbao.plans import compiled_plan  # noqa: E402
from huiminbao.settlement.models import SettlementSource  # noqa: E402
from huiminbao.settlement.onestop import Item, settle_many  # noqa: E402
from huiminbao.synth import generate_city, write_city  # noqa: E402

TODAY = date.fromisoformat(ENV["HMB_TODAY"])
PASSWORD = "Bench-claims-2024"
BATCH = 50  # claims a transaction
URLS = [  # timed as the adjuster: the API's queue and the queue page
    "/api/v1/claims",
    f"/api/v1/claims?plan={PLAN}&within_days=3",
    "/claims/queue",
]
LIMIT_MS = 200


def prepare(db: Database, persons: int, seed: int) -> list[dict]:
    """Roster, a policy for everyone, the city's stays kept as the bureau's records; returns the bodies."""
    city = generate_city(PLAN, persons, seed=seed)
    with tempfile.TemporaryDirectory() as tmp:
        write_city(city, tmp, "parquet")
        import_file(db, Path(tmp) / "roster.parquet")
        found = [b for _, b in bodies(Path(tmp) / "settlements.parquet", Path(tmp) / "fee_lines.parquet")]
    compiled = compiled_plan(PLAN)
    with db.session() as s:
        enroll_share(session=s, actor=audit.CLI, compiled=compiled, share=1.0, day=compiled.plan.enrollment.window.end, seed=seed)  # fmt: skip
    kept = []
    for i in range(0, len(found), 2000):
        with db.session() as s:
            result = record_bodies(session=s, actor=audit.CLI, bodies=found[i : i + 2000])
        kept += [b for j, b in enumerate(found[i : i + 2000]) if j not in {r["index"] for r in result.refused}]
    with db.session() as s:
        for name, role in (("bench-clerk", Role.CLERK), ("bench-adjuster", Role.ADJUSTER)):
            create_user(session=s, actor=audit.CLI, username=name, role=role, password=PASSWORD, insurer_code="DEMO-A")
    return kept


def claims_to_file(kept: list[dict], count: int) -> list[tuple[str, list[str]]]:
    """(psn_no, setl_ids) in settlement-time order: one stay a claim, every tenth two of a person's."""
    by_person: dict[str, list[str]] = {}
    for b in kept:
        by_person.setdefault(b["setlinfo"]["psn_no"], []).append(b["setlinfo"]["setl_id"])
    out: list[tuple[str, list[str]]] = []
    for psn, ids in by_person.items():
        i = 0
        while i < len(ids) and len(out) < count:
            take = 2 if len(out) % 10 == 9 and i + 1 < len(ids) else 1
            out.append((psn, ids[i : i + take]))
            i += take
    return out[:count]


def baseline(db: Database, kept: list[dict], count: int) -> float:
    """One-stop settle_many of the first stays, batch by batch in one transaction rolled back: stays/s."""
    items = [Item(audit.CLI, b["setlinfo"]["fixmedins_code"], b, SettlementSource.FILE) for b in kept[:count]]
    s = db.sessions()
    started = time.perf_counter()
    try:
        for part in batches(items, 64):
            settle_many(session=s, items=part)
            s.flush()
        return len(items) / (time.perf_counter() - started)
    finally:
        s.rollback()
        s.close()


def file_all(db: Database, todo: list[tuple[str, list[str]]]) -> list[str]:
    filed: list[str] = []
    for i in range(0, len(todo), BATCH):
        with db.session() as s:
            clerk = s.scalars(sa.select(User).where(User.username == "bench-clerk")).one()
            who = audit.Actor(clerk.username, clerk.role.value)
            for psn, ids in todo[i : i + BATCH]:
                try:
                    with s.begin_nested():
                        c = file_claim(session=s, user=clerk, actor=who, psn_no=psn, setl_ids=ids, channel=ClaimChannel.COUNTER, today=_filed_on(len(filed)))  # fmt: skip
                        filed.append(c.claim_no or "")
                except ClaimRefused:
                    pass  # a stay outside the policy's cover: the service's refusal, as the API would answer
    return filed


def _filed_on(n: int) -> date:
    return date(2024, 1, 15) + timedelta(days=n % 330)


def approve_all(db: Database, filed: list[str]) -> tuple[int, int]:
    """take + decide each claim (two-stay claims: the second stay refused); returns (decided, refused)."""
    decided = refused = 0
    for i in range(0, len(filed), BATCH):
        with db.session() as s:
            adj = s.scalars(sa.select(User).where(User.username == "bench-adjuster")).one()
            who = audit.Actor(adj.username, adj.role.value)
            for no in filed[i : i + BATCH]:
                c = get_claim_or_raise(session=s, claim_no=no)
                review.take(session=s, claim=c, user=adj, actor=who, today=c.submitted_on + timedelta(days=1))
                items = [x.setl_id for x in c.items]
                decisions = {x: Decision(True, filing_confirmed=True) for x in items}
                if len(items) > 1:
                    decisions[items[-1]] = Decision(False, RejectReason.DOCUMENTS_INVALID)
                try:
                    with s.begin_nested():
                        review.decide(session=s, claim=c, user=adj, actor=who, decisions=decisions, today=c.submitted_on + timedelta(days=3))  # fmt: skip
                    decided += 1
                except ClaimRefused:
                    refused += 1  # the engine will not pay the stay (e.g. outside the cover): left in review
    return decided, refused


def fill(db: Database, total: int) -> int:
    """Bulk claims up to ``total``: open ones due around today (spread over the calendar), the rest decided;
    each with one stay (a kept record, inactive so that it holds nothing)."""
    with db.session() as s:
        have = s.scalar(sa.select(sa.func.count()).select_from(Claim)) or 0
        held = s.execute(sa.select(Policy.id, Policy.person_id, InsuredPerson.psn_no).join(InsuredPerson)).all()
        n = total - have
        spread = [
            ClaimState.SUBMITTED, ClaimState.IN_REVIEW, ClaimState.DOCUMENTS_REQUESTED, ClaimState.APPROVED,
            ClaimState.PAID, ClaimState.PAID, ClaimState.REJECTED, ClaimState.PAID, ClaimState.PARTLY_APPROVED,
            ClaimState.WITHDRAWN,
        ]  # fmt: skip
        rows = []
        for k in range(n):
            policy_id, person_id, psn = held[k % len(held)]
            state = spread[k % len(spread)]
            filed = TODAY - timedelta(days=k % 300)
            due = TODAY + timedelta(days=k % 41 - 20) if state in OPEN and state is not ClaimState.DOCUMENTS_REQUESTED else None  # fmt: skip
            rows.append({
                "claim_no": f"LF{k:012d}", "person_id": person_id, "psn_no": psn, "plan_id": PLAN,
                "policy_id": policy_id, "channel": ClaimChannel.ONLINE if k % 2 else ClaimChannel.COUNTER,
                "filed_by": "bench-filler", "state": state, "submitted_on": filed, "due_date": due,
                "claimed_fen": 100_000 + k % 977 * 100, "payout_fen": None if state in OPEN else k % 5000 * 100,
                "version": 1,
            })  # fmt: skip
        for i in range(0, len(rows), 10_000):
            s.execute(sa.insert(Claim), rows[i : i + 10_000])
        s.execute(
            sa.text(
                """INSERT INTO claim_item (claim_id, bureau_record_id, setl_id, active, decision, filing_confirmed)
                SELECT c.id, b.id, b.setl_id, false, 'pending', false
                FROM claim c JOIN (SELECT id, setl_id, row_number() OVER (ORDER BY id) - 1 AS rn FROM bureau_record) b
                  ON b.rn = c.id % (SELECT count(*) FROM bureau_record)
                WHERE c.filed_by = 'bench-filler'"""
            )
        )
    with db.engine.connect() as conn:
        conn.execute(sa.text("ANALYZE claim; ANALYZE claim_item"))
        conn.commit()
    return n


def sign_in(port: int) -> dict[str, str]:
    """The adjuster's bearer token and web session cookie, as headers."""
    with httpx.Client(base_url=f"http://127.0.0.1:{port}") as c:
        token = c.post("/api/v1/auth/token", data={"username": "bench-adjuster", "password": PASSWORD}).json()
        c.get("/login")
        form = {"username": "bench-adjuster", "password": PASSWORD, "csrf_token": c.cookies["hmb_csrf"]}
        assert c.post("/login", data=form).status_code in (200, 303)
        cookie = "; ".join(f"{k}={v}" for k, v in c.cookies.items())
    return {"Authorization": f"Bearer {token['access_token']}", "Cookie": cookie}


def time_urls(port: int, headers: dict[str, str], requests: int) -> dict[str, tuple[float, float, int]]:
    """Each URL fetched ``requests`` times one after another on one keep-alive connection: p50, p95 ms, total."""

    async def run() -> dict[str, tuple[float, float, int]]:
        conn = Connection("127.0.0.1", port, headers)
        out = {}
        for url in URLS:
            status, body = await conn.request("GET", url, b"", {})  # warm
            assert status == 200, (url, status, body[:300])
            took = []
            for _ in range(requests):
                t0 = time.perf_counter()
                status, body = await conn.request("GET", url, b"", {})
                took.append((time.perf_counter() - t0) * 1000)
                assert status == 200, (url, status)
            total = int(body.split(b'"total":')[1].split(b",")[0]) if b'"total":' in body else -1
            out[url] = (statistics.median(took), statistics.quantiles(took, n=20)[18], total)
        return out

    return asyncio.run(run())


def explain(db: Database) -> str:
    """EXPLAIN ANALYZE of the queue's page and count, as ``claims.queue.queue`` builds them for a plan."""
    where = [Claim.state.in_(OPEN), Claim.plan_id.in_([PLAN])]
    page = (
        sa.select(Claim)
        .where(*where, Claim.plan_id == PLAN, Claim.due_date <= default_calendar().add_working_days(TODAY, 3))
        .order_by(Claim.due_date.is_(None), Claim.due_date, Claim.id)
        .limit(50)
    )
    first = sa.select(Claim).where(*where).order_by(Claim.due_date.is_(None), Claim.due_date, Claim.id).limit(50)
    count = sa.select(sa.func.count()).select_from(Claim).where(*where)
    out = []
    with db.engine.connect() as conn:
        for name, q in (("first page", first), ("plan + within_days", page), ("count", count)):
            sql = str(q.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
            plan = conn.execute(sa.text(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")).scalars().all()
            out.append(f"-- {name}\n" + "\n".join(plan))
    return "\n".join(out)


def show(label: str, times: dict[str, tuple[float, float, int]], base: dict[str, tuple[float, float, int]]) -> bool:
    ok = True
    for url, (p50, p95, total) in times.items():
        ratio = p50 / base[url][0] if base.get(url) else 1.0
        flag = "ok" if p95 < LIMIT_MS else f"OVER {LIMIT_MS} ms"
        print(f"{label:>10} {url:<55} total {total:>7,}  p50 {p50:6.1f} ms  p95 {p95:6.1f} ms  x{ratio:.2f} vs 1k  {flag}")  # fmt: skip
        ok &= p95 < LIMIT_MS
    return ok


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--persons", type=int, default=3000, help="size of the synthetic city (every one insured)")
    ap.add_argument("--claims", type=int, default=10_000, help="claims filed and decided through the services")
    ap.add_argument("--total", type=int, default=100_000, help="claims in the table when the queue is timed")
    ap.add_argument("--requests", type=int, default=50, help="requests per URL")
    ap.add_argument("--seed", type=int, default=2024)
    args = ap.parse_args()
    with temporary_cluster(durable=True, settings={"max_wal_size": "4GB"}) as url:
        migrate.upgrade(url)
        db = Database.from_url(url)
        started = time.perf_counter()
        kept = prepare(db, args.persons, args.seed)
        todo = claims_to_file(kept, args.claims)
        print(f"prepared {args.persons:,} insured persons, {len(kept):,} bureau records in {time.perf_counter() - started:.1f} s")  # fmt: skip
        assert len(todo) == args.claims, f"the city has stays for only {len(todo):,} claims: raise --persons"
        one_stop = baseline(db, kept, min(2000, len(kept)))
        print(f"baseline: settle_many one-stop {one_stop:,.0f} stays/s (first {min(2000, len(kept)):,} stays, rolled back)")  # fmt: skip
        port = free_port()
        server = serve(url, port, 1, ENV)
        try:
            headers = sign_in(port)
            t0 = time.perf_counter()
            filed = file_all(db, todo[:1000])
            small = time_urls(port, headers, args.requests)
            filed += file_all(db, todo[1000:])
            filing = time.perf_counter() - t0
            print(f"filing: {len(filed):,} claims in {filing:.1f} s = {len(filed) / filing:,.0f} claims/s (batches of {BATCH}; less the 1k queue timing)")  # fmt: skip
            show("1k claims", small, {})
            t0 = time.perf_counter()
            decided, refused = approve_all(db, filed)
            approving = time.perf_counter() - t0
            rate = decided / approving
            print(f"approving: {decided:,} claims in {approving:.1f} s = {rate:,.0f} claims/s ({refused} left in review: the engine refused a stay); x{rate / one_stop:.2f} of one-stop's stays/s")  # fmt: skip
            t0 = time.perf_counter()
            added = fill(db, args.total)
            print(f"filler: {added:,} claims bulk-inserted in {time.perf_counter() - t0:.1f} s")
            big = time_urls(port, headers, args.requests)
            ok = show(f"{args.total // 1000}k claims", big, small)
            rss = server_rss(server)
        finally:
            server.terminate()
            server.wait(30)
        print(explain(db))
        db.dispose()
    print(f"peak RSS: bench {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB, server {rss / 2**20:,.0f} MB")  # fmt: skip
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
