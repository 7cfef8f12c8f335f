"""Writing a checked roster into ``insured_person``: a staging table and one set-based upsert.

A city's roster is millions of rows, so nothing here goes row by row through the ORM. The good rows, with
their keyed hashes, are bulk-loaded into a temporary staging table (PostgreSQL ``COPY``; SQLite one
``executemany``), and SQL does the rest: rows whose ID number is already held by another ``psn_no`` are
rejected, rows whose ``content_hash`` matches the stored one are left alone (so a re-import of the same
file writes nothing), and only new or changed people are encrypted (SM4 is the slow part) and written
by a single ``INSERT .. SELECT .. ON CONFLICT DO UPDATE``. A change of basic-insurance status suspends,
ends or resumes the person's policies as each plan's ``follows_basic_insurance`` says, also set-based.

The caller owns the transaction: an import is all or nothing.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import polars as pl
import sqlalchemy as sa
from sqlalchemy.orm import Session

from huiminbao.db.base import UTCDateTime, utcnow
from huiminbao.enrollment.models import InsuStatus, PolicyStatus, RosterImport
from huiminbao.enrollment.roster import LINE, CheckedRoster, check, masked_names, read_table, report_csv
from huiminbao.identity import audit
from huiminbao.identity.phone import masked_phones
from huiminbao.identity.pii import encrypt_column, hash_column
from huiminbao.plans.loader import PlanNotFound, load_plan

STAGE = "roster_stage"
ENC = "roster_enc"
STAGE_COLUMNS = (
    "psn_no",
    "certno_hash",
    "content_hash",
    "name_masked",
    "phone_masked",
    "gender",
    "birth_date",
    "insutype",
    "insu_admdvs",
    "insu_status",
    "insu_status_date",
    "populations",
    "line",
)
PERSON_COLUMNS = STAGE_COLUMNS[:-1]
# A row without a phone leaves the stored one alone: the bureau may not know it, the payer may have given it.
KEPT_IF_NULL = ("phone_masked", "phone_enc")


@dataclass(frozen=True)
class StatusChange:
    """What a new basic-insurance status does to a person's policies under a plan that follows it."""

    to_stas: InsuStatus
    from_stas: tuple[InsuStatus, ...]
    from_status: tuple[PolicyStatus, ...]
    status: PolicyStatus
    reason: str


def status_changes(*, suspend: bool, end: bool) -> list[StatusChange]:
    """The changes a plan's ``follows_basic_insurance`` asks for (聊惠保: 同步暂停或终止)."""
    active, suspended = PolicyStatus.ACTIVE, PolicyStatus.SUSPENDED
    out = []
    if suspend:
        out.append(
            StatusChange(
                InsuStatus.SUSPENDED, (InsuStatus.INSURED,), (active,), suspended, "基本医保暂停参保，保障同步暂停"
            )
        )
        out.append(
            StatusChange(
                InsuStatus.INSURED, (InsuStatus.SUSPENDED,), (suspended,), active, "基本医保恢复参保，保障恢复"
            )
        )
    if end:
        ended = PolicyStatus.ENDED
        out.append(
            StatusChange(
                InsuStatus.ENDED,
                (InsuStatus.INSURED, InsuStatus.SUSPENDED),
                (active, suspended),
                ended,
                "基本医保终止参保，保障同步终止",
            )
        )
    return out


@dataclass(frozen=True)
class Keys:
    encrypt: bytes  # the current SM4 key
    hash: bytes  # the HMAC-SM3 look-up key


@dataclass(frozen=True)
class ImportResult:
    id: int
    rows: int
    inserted: int
    updated: int
    unchanged: int
    rejected: int
    policies_changed: int
    report_csv: str

    def summary(self) -> dict[str, int]:
        return {
            "rows": self.rows,
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": self.rejected,
            "policies_changed": self.policies_changed,
        }


def import_roster(
    *,
    session: Session,
    path: str | Path,
    keys: Keys,
    actor: audit.Actor,
    today: date,
    data: bytes | None = None,
) -> ImportResult:
    """Import the bureau's roster file (or ``data``, its bytes, named by ``path``) and record the import."""
    path = Path(path)
    raw = data if data is not None else path.read_bytes()
    checked = check(read_table(path, raw), today=today)
    _lock(session)
    staged = _hashed(checked, keys)
    _create_temp_tables(session)
    try:
        _bulk_load(session, STAGE, staged.drop("certno", "psn_name", "phone"))
        held = _held_by_another(session)
        todo = session.execute(
            sa.text(
                f"SELECT s.psn_no, p.id IS NULL FROM {STAGE} s LEFT JOIN insured_person p ON p.psn_no = s.psn_no "
                "WHERE p.id IS NULL OR p.content_hash <> s.content_hash"
            )
        ).all()
        inserted = sum(1 for _, new in todo if new)
        changed = staged.join(pl.DataFrame({"psn_no": [p for p, _ in todo]}, schema={"psn_no": pl.Utf8}), on="psn_no")
        _bulk_load(session, ENC, _encrypted(changed, keys))
        policies_changed = _follow_status_changes(session)
        _upsert(session)
    finally:
        for table in (STAGE, ENC):
            session.execute(sa.text(f"DROP TABLE IF EXISTS {table}"))
    rejects = pl.concat([checked.rejects, held]).sort(LINE, "field") if held.height else checked.rejects
    rejected = rejects[LINE].n_unique() if rejects.height else 0
    report = report_csv(rejects)
    accepted = staged.height - held.height
    record = RosterImport(
        file_name=path.name[:255],
        sha256=hashlib.sha256(raw).hexdigest(),
        rows=checked.rows,
        inserted=inserted,
        updated=len(todo) - inserted,
        unchanged=accepted - len(todo),
        rejected=rejected,
        policies_changed=policies_changed,
        report_csv=report,
        username=actor.name,
    )
    session.add(record)
    session.flush()
    result = ImportResult(
        id=record.id,
        rows=record.rows,
        inserted=record.inserted,
        updated=record.updated,
        unchanged=record.unchanged,
        rejected=rejected,
        policies_changed=policies_changed,
        report_csv=report,
    )
    audit.record(
        session=session,
        actor=actor,
        action="roster.import",
        entity="roster_import",
        entity_id=str(record.id),
        after={"file": record.file_name, "sha256": record.sha256, **result.summary()},
    )
    return result


def _encrypted(changed: pl.DataFrame, keys: Keys) -> pl.DataFrame:
    """The ID numbers, names and (where given) phones of new or changed rows, SM4-encrypted in one batch."""
    n = changed.height
    phones = changed.filter(pl.col("phone") != "")
    blobs = pl.Series(encrypt_column([*changed["certno"], *changed["psn_name"], *phones["phone"]], keys.encrypt)).cast(
        pl.Binary
    )
    phone_enc = pl.DataFrame({"psn_no": phones["psn_no"], "phone_enc": blobs[2 * n :]})
    return (
        pl.DataFrame({"psn_no": changed["psn_no"], "certno_enc": blobs[:n], "name_enc": blobs[n : 2 * n]})
        .join(phone_enc, on="psn_no", how="left")
        .cast({"psn_no": pl.Utf8, "certno_enc": pl.Binary, "name_enc": pl.Binary, "phone_enc": pl.Binary})
    )


def _hashed(checked: CheckedRoster, keys: Keys) -> pl.DataFrame:
    """The good rows in the staging layout, with the ID number's look-up hash and a content hash."""
    good = checked.good
    content = good.select(
        pl.concat_str(
            [
                pl.col(c).cast(pl.Utf8)
                for c in ("certno", "psn_name", "gend", "brdy", "insutype", "insu_admdvs", "psn_insu_stas")
            ]
            + [pl.col("psn_insu_date").cast(pl.Utf8), pl.col("populations")],
            separator="\x1f",
        )
        # A phone joins the content only when given, so rows of files without one hash as before the
        # column existed and a re-import of them still writes nothing.
        + pl.when(pl.col("phone") != "").then("\x1f" + pl.col("phone")).otherwise(pl.lit(""))
    ).to_series()
    return good.select(
        "psn_no",
        "certno",
        "psn_name",
        "phone",
        _hex("certno_hash", hash_column(good["certno"].to_list(), keys.hash)),
        _hex("content_hash", hash_column(content.to_list(), keys.hash)),
        masked_names(pl.col("psn_name")).alias("name_masked"),
        masked_phones(pl.col("phone")).alias("phone_masked"),
        pl.col("gend").alias("gender"),
        pl.col("brdy").alias("birth_date"),
        "insutype",
        "insu_admdvs",
        pl.col("psn_insu_stas").alias("insu_status"),
        pl.col("psn_insu_date").alias("insu_status_date"),
        "populations",
        pl.col(LINE).alias("line"),
    )


def _hex(name: str, digests: object) -> pl.Series:
    return pl.Series(name, digests).cast(pl.Binary).bin.encode("hex")


def _create_temp_tables(session: Session) -> None:
    for table in (STAGE, ENC):
        session.execute(sa.text(f"DROP TABLE IF EXISTS {table}"))
    session.execute(
        sa.text(
            f"CREATE TEMPORARY TABLE {STAGE} (psn_no VARCHAR(40) PRIMARY KEY, certno_hash VARCHAR(64) NOT NULL, "
            "content_hash VARCHAR(64) NOT NULL, name_masked VARCHAR(50) NOT NULL, phone_masked VARCHAR(11), "
            "gender VARCHAR(1) NOT NULL, "
            "birth_date DATE NOT NULL, insutype VARCHAR(3) NOT NULL, insu_admdvs VARCHAR(6) NOT NULL, "
            "insu_status VARCHAR(1) NOT NULL, insu_status_date DATE, populations VARCHAR(200) NOT NULL, "
            "line BIGINT NOT NULL)"
        )
    )
    blob = "BYTEA" if session.get_bind().dialect.name == "postgresql" else "BLOB"
    session.execute(
        sa.text(
            f"CREATE TEMPORARY TABLE {ENC} (psn_no VARCHAR(40) PRIMARY KEY, certno_enc {blob} NOT NULL, "
            f"name_enc {blob} NOT NULL, phone_enc {blob})"
        )
    )


def _bulk_load(session: Session, table: str, frame: pl.DataFrame) -> None:
    """Rows into a staging table: COPY on PostgreSQL, one executemany on SQLite."""
    if frame.height == 0:
        return
    columns = ", ".join(frame.columns)
    if session.get_bind().dialect.name == "postgresql":
        text = frame.with_columns(
            [
                pl.concat_str(pl.lit("\\x"), pl.col(c).bin.encode("hex")).alias(c)
                for c, t in frame.schema.items()
                if t == pl.Binary
            ]
        )
        buffer = io.BytesIO()
        text.write_csv(buffer, include_header=False, date_format="%Y-%m-%d")
        cursor = session.connection().connection.driver_connection.cursor()  # type: ignore[union-attr]
        with cursor.copy(f"COPY {table} ({columns}) FROM STDIN WITH (FORMAT csv)") as copy:
            copy.write(buffer.getvalue())
        cursor.execute(f"ANALYZE {table}")  # temporary tables are never auto-analysed: plan joins on facts
        return
    rows = frame.with_columns(
        [pl.col(c).dt.strftime("%Y-%m-%d") for c, t in frame.schema.items() if t == pl.Date]
    ).rows()
    marks = ", ".join("?" for _ in frame.columns)
    cursor = session.connection().connection.driver_connection.cursor()  # type: ignore[union-attr]
    cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)


def _held_by_another(session: Session) -> pl.DataFrame:
    """Reject (and unstage) rows whose ID number the platform already holds under another ``psn_no``."""
    rows = session.execute(
        sa.text(
            f"SELECT s.line, s.psn_no FROM {STAGE} s JOIN insured_person p "
            "ON p.certno_hash = s.certno_hash AND p.psn_no <> s.psn_no"
        )
    ).all()
    if rows:
        session.execute(
            sa.text(
                f"DELETE FROM {STAGE} WHERE EXISTS (SELECT 1 FROM insured_person p WHERE "
                f"p.certno_hash = {STAGE}.certno_hash AND p.psn_no <> {STAGE}.psn_no)"
            )
        )
    return pl.DataFrame(
        {
            LINE: [r[0] for r in rows],
            "psn_no": [r[1] for r in rows],
            "field": ["certno"] * len(rows),
            "reason": ["该身份证号已登记在另一人员编号下"] * len(rows),
        },
        schema={LINE: pl.Int64, "psn_no": pl.Utf8, "field": pl.Utf8, "reason": pl.Utf8},
    )


def _upsert(session: Session) -> None:
    """Changed people updated in place, then new people inserted: two set-based statements. Plain INSERT
    is cheaper than ``ON CONFLICT`` (no speculative insertion per row), and safe because imports are
    serialised (``_lock``)."""
    encrypted = ("certno_enc", "name_enc", "phone_enc")
    columns = (*PERSON_COLUMNS, *encrypted)
    now = sa.bindparam("now", type_=UTCDateTime())
    sources = [(c, STAGE) for c in PERSON_COLUMNS[1:]] + [(c, ENC) for c in encrypted]
    selects = {c: f"(SELECT x.{c} FROM {table} x WHERE x.psn_no = insured_person.psn_no)" for c, table in sources}
    sets = ", ".join(f"{c} = COALESCE({q}, {c})" if c in KEPT_IF_NULL else f"{c} = {q}" for c, q in selects.items())
    update = sa.text(
        f"UPDATE insured_person SET {sets}, updated_at = :now WHERE psn_no IN (SELECT psn_no FROM {ENC})"
    ).bindparams(now)
    insert = sa.text(
        f"INSERT INTO insured_person ({', '.join(columns)}, created_at, updated_at) "
        f"SELECT {', '.join('s.' + c for c in PERSON_COLUMNS)}, {', '.join('e.' + c for c in encrypted)}, :now, :now "
        f"FROM {STAGE} s JOIN {ENC} e ON e.psn_no = s.psn_no "
        "WHERE NOT EXISTS (SELECT 1 FROM insured_person p WHERE p.psn_no = s.psn_no)"
    ).bindparams(now)
    stamp = {"now": utcnow()}
    session.execute(update, stamp)
    session.execute(insert, stamp)


def _lock(session: Session) -> None:
    """One roster import at a time (PostgreSQL: a transaction-scoped advisory lock; SQLite serialises
    writers by itself)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext('huiminbao.roster_import'))"))


def _follow_status_changes(session: Session) -> int:
    """Suspend, end or resume the policies of people whose basic-insurance status changes in this import,
    for each plan whose ``follows_basic_insurance`` says so; each change is a policy event. Runs before the
    upsert, while ``insured_person`` still holds the old status."""
    plan_ids = session.scalars(sa.text("SELECT DISTINCT plan_id FROM policy")).all()
    total = 0
    now = utcnow()
    for plan_id in plan_ids:
        try:
            link = load_plan(plan_id).follows_basic_insurance
        except PlanNotFound:
            continue
        if link is None:
            continue
        for change in status_changes(suspend=link.suspend, end=link.end):
            total += _apply(session, plan_id=plan_id, change=change, now=now)
    return total


def _apply(session: Session, *, plan_id: str, change: StatusChange, now: object) -> int:
    people = (
        f"SELECT p.id AS person_id, s.insu_status_date AS effective FROM {STAGE} s "
        "JOIN insured_person p ON p.psn_no = s.psn_no "
        "WHERE s.insu_status = :to_stas AND p.insu_status IN :from_stas"
    )
    params = {
        "plan_id": plan_id,
        "to_stas": change.to_stas.value,
        "from_stas": [s.value for s in change.from_stas],
        "from_status": [s.value for s in change.from_status],
        "status": change.status.value,
        "reason": change.reason,
        "now": now,
    }
    where = "pol.plan_id = :plan_id AND pol.status IN :from_status"
    events = sa.text(
        "INSERT INTO policy_event (policy_id, status, effective, reason, created_at) "
        f"SELECT pol.id, :status, COALESCE(x.effective, pol.status_date), :reason, :now "
        f"FROM policy pol JOIN ({people}) x ON x.person_id = pol.person_id WHERE {where}"
    ).bindparams(
        sa.bindparam("from_stas", expanding=True),
        sa.bindparam("from_status", expanding=True),
        sa.bindparam("now", type_=UTCDateTime()),
    )
    session.execute(events, params)
    update = sa.text(
        f"UPDATE policy SET status = :status, updated_at = :now, status_date = COALESCE(("
        f"SELECT x.effective FROM ({people}) x WHERE x.person_id = policy.person_id), status_date) "
        f"WHERE plan_id = :plan_id AND status IN :from_status AND person_id IN (SELECT person_id FROM ({people}) y)"
    ).bindparams(
        sa.bindparam("from_stas", expanding=True),
        sa.bindparam("from_status", expanding=True),
        sa.bindparam("now", type_=UTCDateTime()),
    )
    return session.execute(update, params).rowcount or 0  # type: ignore[attr-defined]


__all__ = ["ImportResult", "Keys", "StatusChange", "import_roster", "status_changes"]
