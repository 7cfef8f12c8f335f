"""The database layer on SQLite and on a real PostgreSQL: migrations, models, registry, roster, CLI."""

from __future__ import annotations

import warnings
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from typer.testing import CliRunner

from huiminbao.admin.plans import register_plans
from huiminbao.db import Base, Database, migrate
from huiminbao.db.tables import (
    Accumulator,
    AdjudicationRun,
    InsuredPerson,
    PlanVersion,
    RunStatus,
    SettlementOutcome,
)
from huiminbao.plans import PlanStatus
from huiminbao.settings import DevKeyWarning, Settings, get_settings

TABLES = {
    "plan_version",
    "insured_person",
    "adjudication_run",
    "settlement_outcome",
    "accumulator",
    "roster_import",
    "policy",
    "policy_order",
    "policy_event",
    "payment",
    "charity_fund",
}


def _tables(url: str) -> set[str]:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return set(sa.inspect(conn).get_table_names())
    finally:
        engine.dispose()


def _diff(url: str) -> list[object]:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    finally:
        engine.dispose()


@pytest.fixture
def db(db_url: str):
    migrate.upgrade(db_url)
    database = Database.from_url(db_url)
    yield database
    database.dispose()


# --- migrations -----------------------------------------------------------------------


def test_migrations_up_and_down(db_url: str) -> None:
    """Runs on SQLite and (slow) PostgreSQL: head creates every table, base removes them all."""
    migrate.upgrade(db_url)
    assert _tables(db_url) >= TABLES
    assert _diff(db_url) == [], "models and migrations disagree: write a migration"
    engine = sa.create_engine(db_url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        assert migrate.current_revision(conn) == migrate.head_revision()
    engine.dispose()
    migrate.downgrade(db_url, "base")
    assert _tables(db_url) & TABLES == set()
    migrate.upgrade(db_url)  # and up again: downgrade left nothing behind
    assert _tables(db_url) >= TABLES


def test_upgrade_creates_sqlite_folder(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'nested' / 'dir' / 'x.db'}"
    migrate.upgrade(url)
    assert (tmp_path / "nested" / "dir" / "x.db").exists()


# --- models ---------------------------------------------------------------------------


def test_round_trip(db: Database) -> None:
    """Every model writes and reads back unchanged: big fen amounts, enums, bytes, UTC times."""
    big = 9_000_000_000_000  # 90 billion yuan in fen: beyond 32 bits
    started = datetime(2024, 3, 1, 8, 30, tzinfo=UTC)
    with db.session() as s:
        s.add(
            PlanVersion(
                plan_id="liaocheng-2024",
                content_sha256="a" * 64,
                name="聊惠保",
                city="聊城市",
                year=2024,
                status=PlanStatus.OFFICIAL,
                source_file="liaocheng-2024.yaml",
            )
        )
        s.add(
            InsuredPerson(
                psn_no="37150000000000000001",
                certno_hash="b" * 64,
                certno_enc=b"\x00\x01\xfe\xff",
                name_enc=b"\x02",
                name_masked="张*",
                gender="1",
                birth_date=date(1960, 2, 29),
                insutype="390",
                insu_admdvs="371502",
                content_hash="c" * 64,
            )
        )
        run = AdjudicationRun(plan_id="liaocheng-2024", tier="standard", started_at=started, total_payout_fen=big)
        s.add(run)
        s.flush()
        s.add(SettlementOutcome(run_id=run.id, setl_id="S1", psn_no="37150000000000000001", payout_fen=-12345))
        s.add(Accumulator(psn_no="37150000000000000001", plan_id="liaocheng-2024", year=2024, key="overall", value=big))
        run_id = run.id
    with db.session() as s:
        pv = s.scalars(sa.select(PlanVersion)).one()
        assert (pv.name, pv.status, pv.loaded_at.tzinfo) == ("聊惠保", PlanStatus.OFFICIAL, UTC)
        p = s.scalars(sa.select(InsuredPerson)).one()
        assert p.id >= 1 and p.insu_status == "1" and p.population_tags == ()
        assert p.certno_enc == b"\x00\x01\xfe\xff" and p.birth_date == date(1960, 2, 29)
        r = s.get(AdjudicationRun, run_id)
        assert r is not None
        assert (r.status, r.records, r.total_payout_fen, r.started_at, r.finished_at) == (
            RunStatus.RUNNING,
            0,
            big,
            started,
            None,
        )
        o = s.scalars(sa.select(SettlementOutcome)).one()
        assert (o.payout_fen, o.is_reversal) == (-12345, False)
        assert s.scalars(sa.select(Accumulator.value)).one() == big
        # statuses are stored as their plain string values
        assert s.execute(sa.text("SELECT status FROM plan_version")).scalar_one() == "official"


def test_outcome_unique_per_run(db: Database) -> None:
    """A retried batch cannot record the same settlement twice in one run."""
    with db.session() as s:
        run = AdjudicationRun(plan_id="p", tier="t")
        s.add(run)
        s.flush()
        run_id = run.id
        s.add(SettlementOutcome(run_id=run_id, setl_id="S1", psn_no="1", payout_fen=100))
    with pytest.raises(sa.exc.IntegrityError), db.session() as s:
        s.add(SettlementOutcome(run_id=run_id, setl_id="S1", psn_no="1", payout_fen=100))


def test_accumulator_unique_key(db: Database) -> None:
    row = {"psn_no": "1", "plan_id": "p", "year": 2024, "key": "overall", "value": 1}
    with db.session() as s:
        s.add(Accumulator(**row))
    with pytest.raises(sa.exc.IntegrityError), db.session() as s:
        s.add(Accumulator(**row))


def test_foreign_keys_enforced_and_cascade(db: Database) -> None:
    """SQLite enforces foreign keys only with the pragma the engine sets; deleting a run deletes its outcomes."""
    with pytest.raises(sa.exc.IntegrityError), db.session() as s:
        s.add(SettlementOutcome(run_id=999_999, setl_id="S1", psn_no="1", payout_fen=1))
    with db.session() as s:
        run = AdjudicationRun(plan_id="p", tier="t")
        s.add(run)
        s.flush()
        s.add(SettlementOutcome(run_id=run.id, setl_id="S1", psn_no="1", payout_fen=1))
        run_id = run.id
    with db.session() as s:
        s.execute(sa.delete(AdjudicationRun).where(AdjudicationRun.id == run_id))
    with db.session() as s:
        assert s.scalars(sa.select(SettlementOutcome)).all() == []


def test_sqlite_uses_wal(tmp_path: Path) -> None:
    database = Database.from_url(f"sqlite:///{tmp_path / 'w.db'}")
    with database.engine.connect() as conn:
        assert conn.execute(sa.text("PRAGMA journal_mode")).scalar_one() == "wal"
        assert conn.execute(sa.text("PRAGMA foreign_keys")).scalar_one() == 1
    database.dispose()


# --- plan registry and roster ------------------------------------------------------------


def test_register_plans_is_idempotent(db: Database) -> None:
    with db.session() as s:
        added, known = register_plans(session=s)
    assert added >= 1 and known == 0
    with db.session() as s:
        assert register_plans(session=s) == (0, added)
        ids = set(s.scalars(sa.select(PlanVersion.plan_id)))
    assert "liaocheng-2024" in ids


# --- settings and CLI ---------------------------------------------------------------------


def test_settings_defaults(tmp_path: Path) -> None:
    s = Settings(var_dir=tmp_path / "v")
    assert s.database_url == f"sqlite:///{(tmp_path / 'v' / 'huiminbao.db').resolve()}"
    assert len(s.pii_key_bytes) == 16


def test_settings_rejects_bad_pii_key(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="HMB_PII_KEY"):
        Settings(var_dir=tmp_path, pii_key="abcd")


def test_dev_keys_are_generated_once_and_warned(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HMB_SECRET_KEY")
    monkeypatch.delenv("HMB_PII_KEY")
    monkeypatch.delenv("HMB_PII_HASH_KEY")
    monkeypatch.delenv("HMB_PAYMENT_SECRET")
    monkeypatch.setenv("HMB_VAR_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        with pytest.warns(DevKeyWarning):
            first = get_settings()
        get_settings.cache_clear()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DevKeyWarning)
            second = get_settings()
    finally:
        get_settings.cache_clear()
    assert first.dev_keys and (first.secret_key, first.pii_key) == (second.secret_key, second.pii_key)
    assert (tmp_path / "dev-keys.json").stat().st_mode & 0o077 == 0


def test_cli_upgrade_current_load_demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from huiminbao.cli.db import app

    monkeypatch.setenv("HMB_VAR_DIR", str(tmp_path))
    get_settings.cache_clear()
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    runner = CliRunner()
    try:
        result = runner.invoke(app, ["upgrade", "--url", url])
        assert result.exit_code == 0, result.output
        result = runner.invoke(app, ["current", "--url", url])
        assert "current: 0010" in result.output
        result = runner.invoke(app, ["load-demo", "--url", url, "--persons", "300"])
        assert result.exit_code == 0, result.output
        assert "5 registered" in result.output and "demo city: 300 persons" in result.output
        assert "300 insured people loaded" in result.output
        made = int(result.output.split("policies: ")[1].split()[0])
        assert 60 <= made <= 120 and "enrollment rate 30%" in result.output  # about 30 % of 300 buy
        assert (tmp_path / "demo" / "roster.csv").exists()  # the demo city is written once, then reused
        result = runner.invoke(app, ["load-demo", "--url", url])
        assert "5 already known" in result.output and "demo city" not in result.output
        result = runner.invoke(app, ["downgrade", "base", "--url", url])
        assert result.exit_code == 0, result.output
    finally:
        get_settings.cache_clear()
    assert _tables(url) & TABLES == set()
