"""Proof that real time equals batch (issue 9): a synthetic city's year streamed through the HTTP API.

Thousands of settlements, with refunds, go to ``POST /api/v1/settlements`` signed by their hospitals, on
several concurrent connections; hypothesis draws the interleavings: which records arrive late (after
the rest of the year), which are sent twice at once, and how many connections send. A refund whose
original has not arrived yet is refused and sent again at the end, as a hospital's system would.

Then, to the fen: every record is stored once and a duplicate got the first answer byte for byte; a
person whose records all arrived in order was paid in real time exactly what the batch engine pays
settlement by settlement; and after ``year_end`` every person's paid total (real time plus
adjustments) equals the batch engine over the whole year's records. A second year-end writes nothing.
"""

from __future__ import annotations

import tempfile
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from huiminbao.api.app import create_app
from huiminbao.db import Database, migrate
from huiminbao.engine.adjudicate import adjudicate
from huiminbao.enrollment.bulk import enroll_share
from huiminbao.enrollment.models import InsuredPerson, Policy
from huiminbao.enrollment.roster_store import Keys, import_roster
from huiminbao.flows.settle_file import bodies
from huiminbao.identity import audit
from huiminbao.identity.service import add_hospital
from huiminbao.plans import compiled_plan
from huiminbao.settings import Settings, sqlite_url
from huiminbao.settlement.models import Adjustment, Settlement
from huiminbao.settlement.onestop import insured_frame
from huiminbao.settlement.reader import check_fee_lines, check_settlements, json_frame
from huiminbao.settlement.sender import Sent, send_year
from huiminbao.settlement.yearend import year_end
from huiminbao.synth import generate_city, write_city
from tests.conftest import fresh_database

pytestmark = pytest.mark.slow

PLAN = "zibo-2022"  # one deductible shared by its liabilities: arrival order changes who pays what
PERSONS = 300  # about 1,400 settlements with their refunds
REFUSED_AS_UNINSURED = {"no_active_policy", "unknown_person"}


@pytest.fixture(scope="module")
def year(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The city (roster file, institutions) and its year's settlements as API bodies, in setl_time order."""
    out = tmp_path_factory.mktemp("city")
    city = generate_city(PLAN, PERSONS, seed=11)
    write_city(city, out, "parquet")
    records = [body for _, body in bodies(out / "settlements.parquet", out / "fee_lines.parquet")]
    return {"dir": out, "records": records, "hospitals": sorted({b["setlinfo"]["fixmedins_code"] for b in records})}


@contextmanager
def platform(url: str, year: dict[str, Any], workdir: Path) -> Iterator[tuple[TestClient, Database, dict[str, str]]]:
    """A migrated database with the city's roster, a policy for everyone eligible, and its hospitals."""
    migrate.upgrade(url)
    settings = Settings(var_dir=workdir / "var", database_url=url)
    keys = Keys(encrypt=settings.pii_key_bytes, hash=settings.pii_hash_key_bytes)
    db = Database.from_url(url)
    compiled = compiled_plan(PLAN)
    day = compiled.plan.enrollment.window.end
    with db.session() as s:
        import_roster(session=s, path=year["dir"] / "roster.parquet", keys=keys, actor=audit.CLI, today=day)
    with db.session() as s:
        enroll_share(session=s, actor=audit.CLI, compiled=compiled, share=1.0, day=day, seed=1)
        secrets = {
            code: add_hospital(session=s, actor=audit.CLI, key=settings.pii_key_bytes, code=code, name=f"医院{code}")
            for code in year["hospitals"]
        }
    try:
        with TestClient(create_app(settings)) as client:
            yield client, db, secrets
    finally:
        db.dispose()


def arrival(records: list[dict], late: set[int], twice: set[int]) -> list[dict]:
    """The year in setl_time order, the ``late`` ones moved to the end, the ``twice`` ones sent twice in a row
    (so that the two sends race on different connections)."""
    order = [i for i in range(len(records)) if i not in late] + sorted(late)
    return [records[i] for i in order for _ in range(2 if i in twice else 1)]


def batch(db: Database, records: list[dict]) -> Any:
    """The batch engine over the whole year, with the insured persons as the platform holds them."""
    with db.session() as s:
        held = s.execute(
            sa.select(InsuredPerson, Policy).join(Policy, Policy.person_id == InsuredPerson.id)
            .where(Policy.plan_id == PLAN)
        ).all()  # fmt: skip
        insured = insured_frame([(p, policy) for p, policy in held])
    rows = [{**b["setlinfo"], "diseases": b["diseases"]} for b in records]
    fees = [{"setl_id": b["setlinfo"]["setl_id"], **ln} for b in records for ln in b["feedetl"]]
    return adjudicate(
        compiled_plan(PLAN),
        check_settlements(json_frame(rows), "结算"),
        insured,
        check_fee_lines(json_frame(fees), "费用明细") if fees else None,
    )


def check_year(db: Database, records: list[dict], sent: list[Sent], late: set[int]) -> None:
    codes = Counter(s.code for s in sent)
    assert set(codes) <= {"ok", "replayed", "unknown_original", *REFUSED_AS_UNINSURED}, codes
    first: dict[str, bytes] = {}
    for s in sent:
        if s.status == 200:
            assert first.setdefault(s.body["setlinfo"]["setl_id"], s.content) == s.content, "a replay differs"
    expected = batch(db, records)
    due = dict(expected.settlements.select("setl_id", "payout").iter_rows())
    with db.session() as s:
        stored = s.execute(sa.select(Settlement.setl_id, Settlement.payout_fen)).all()
    assert len(stored) == len({setl for setl, _ in stored}) == len(first), "each record stored once"
    refused = {s.body["setlinfo"]["setl_id"] for s in sent if s.code in REFUSED_AS_UNINSURED}
    assert {setl for setl, _ in stored} | refused == {b["setlinfo"]["setl_id"] for b in records}
    assert all(due[setl] == 0 for setl in refused), "a record refused at the desk would have been paid"
    disturbed = {records[i]["setlinfo"]["psn_no"] for i in late}
    disturbed |= {s.body["setlinfo"]["psn_no"] for s in sent if s.code == "unknown_original"}
    person = {b["setlinfo"]["setl_id"]: b["setlinfo"]["psn_no"] for b in records}
    in_order = [(setl, fen) for setl, fen in stored if person[setl] not in disturbed]
    assert in_order and all(fen == due[setl] for setl, fen in in_order), "real time differs from batch"
    with db.session() as s:
        year_end(session=s, actor=audit.CLI, plan_id=PLAN)
    with db.session() as s:
        assert year_end(session=s, actor=audit.CLI, plan_id=PLAN).adjustments == [], "a second year-end wrote"
    paid: dict[str, int] = defaultdict(int)
    with db.session() as s:
        for psn, fen in s.execute(
            sa.select(InsuredPerson.psn_no, Settlement.payout_fen).join(Settlement, Settlement.person_id == InsuredPerson.id)
        ).all():  # fmt: skip
            paid[psn] += fen
        for psn, fen in s.execute(
            sa.select(InsuredPerson.psn_no, Adjustment.amount_fen).join(Adjustment, Adjustment.person_id == InsuredPerson.id)
        ).all():  # fmt: skip
            paid[psn] += fen
    owed = expected.settlements.group_by("psn_no").agg(pl.col("payout").sum())
    owed_by = {psn: fen for psn, fen in owed.iter_rows() if fen}
    assert {k: v for k, v in paid.items() if v} == owed_by
    assert sum(owed_by.values()) > 0


def interleavings(n: int) -> Any:
    index = st.integers(0, n - 1)
    return st.tuples(
        st.sets(index, max_size=max(1, n // 20)), st.sets(index, max_size=max(1, n // 20)), st.integers(2, 8)
    )


@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_year_streamed_through_the_api_equals_the_batch_on_sqlite(year: dict[str, Any], data: Any) -> None:
    late, twice, senders = data.draw(interleavings(len(year["records"])))
    with (
        tempfile.TemporaryDirectory() as tmp,
        platform(sqlite_url(Path(tmp) / "app.db"), year, Path(tmp)) as (
            client,
            db,
            secrets,
        ),
    ):
        sent = send_year(client, arrival(year["records"], late, twice), secrets, senders=senders)
        check_year(db, year["records"], sent, late)


@pytest.mark.postgres
@settings(max_examples=1, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_year_streamed_through_the_api_equals_the_batch_on_postgresql(
    year: dict[str, Any], pg_url: str, data: Any
) -> None:
    late, twice, senders = data.draw(interleavings(len(year["records"])))
    with (
        tempfile.TemporaryDirectory() as tmp,
        fresh_database(pg_url) as url,
        platform(url, year, Path(tmp)) as (
            client,
            db,
            secrets,
        ),
    ):
        sent = send_year(client, arrival(year["records"], late, twice), secrets, senders=senders)
        check_year(db, year["records"], sent, late)


def test_the_arrival_order_moves_late_records_to_the_end_and_doubles_the_twice_sent() -> None:
    records = [{"n": i} for i in range(5)]
    assert [r["n"] for r in arrival(records, {1}, {3})] == [0, 2, 3, 3, 4, 1]
