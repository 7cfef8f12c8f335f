"""Importing the bureau's roster of basic insured persons into ``insured_person``.

The ID number is turned into a keyed hash and a ciphertext by the caller's ``protect``
function (built on ``huiminbao.identity.pii``) before anything touches the database,
and error messages never quote it. Columns use the national platform's names
(``psn_no, certno, psn_name, gend, brdy, insutype, insu_admdvs``); ``name``,
``gender`` and ``birth_date`` are accepted too, and extra columns are ignored. Rows are
upserted in batches (``INSERT .. ON CONFLICT``), so a re-import updates people in place
and a city-sized roster loads in seconds rather than one round trip per person.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from huiminbao.db.base import utcnow
from huiminbao.enrollment.models import InsuredPerson
from huiminbao.identity.certno import CertNoError, validate_certno

Protect = Callable[[str], tuple[str, bytes]]
"""certno -> (keyed SM3 hex hash, SM4 ciphertext)."""

_ALIASES = {"name": "psn_name", "gender": "gend", "birth_date": "brdy"}
REQUIRED = ("psn_no", "certno", "psn_name", "gend", "brdy", "insutype", "insu_admdvs")


class RosterError(ValueError):
    """A roster that cannot be imported; names the file and line, never the ID number."""


def mask_name(name: str) -> str:
    """Keep the surname only: 张三 -> 张*, 欧阳小明 -> 欧***."""
    name = name.strip()
    return name[:1] + "*" * max(len(name) - 1, 1) if name else ""


def protector(pii_key: str, pii_hash_key: str) -> Protect:
    """The production ``protect``: check the GB 11643 check digit, then hash and encrypt."""
    from huiminbao.identity import pii

    def protect(certno: str) -> tuple[str, bytes]:
        validate_certno(certno)
        return pii.certno_hash(certno, pii_hash_key), pii.encrypt_certno(certno, pii_key)

    return protect


def _check_header(path: Path, columns: list[str]) -> None:
    missing = [c for c in REQUIRED if c not in {_ALIASES.get(h, h) for h in columns}]
    if missing:
        raise RosterError(f"{path}: missing columns: {', '.join(missing)}")


def _csv_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        _check_header(path, list(reader.fieldnames or ()))
        for line, row in enumerate(reader, start=2):
            yield line, {_ALIASES.get(k, k): (v or "").strip() for k, v in row.items() if k}


def _parquet_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    import polars as pl

    frame = pl.read_parquet(path)
    _check_header(path, frame.columns)
    frame = frame.rename({k: v for k, v in _ALIASES.items() if k in frame.columns})
    for i, row in enumerate(frame.select(REQUIRED).iter_rows(named=True)):
        yield i + 1, row


def read_roster(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line or row number, row) pairs from a ``.csv`` or ``.parquet`` roster."""
    path = Path(path)
    return _parquet_rows(path) if path.suffix == ".parquet" else _csv_rows(path)


def _record(path: Path, line: int, row: dict[str, Any], protect: Protect) -> dict[str, Any]:
    try:
        certno_hash, certno_enc = protect(str(row["certno"]))
    except ValueError as exc:
        # Only CertNoError messages are known to mask the number; never chain the exception.
        why = str(exc) if isinstance(exc, CertNoError) else "certno rejected"
        raise RosterError(f"{path}:{line}: {why}") from None
    brdy = row["brdy"]
    try:
        birth = brdy if isinstance(brdy, date) else date.fromisoformat(str(brdy))
    except ValueError as exc:
        raise RosterError(f"{path}:{line}: brdy: {exc}") from None
    now = utcnow()
    return {
        "psn_no": str(row["psn_no"]),
        "certno_hash": certno_hash,
        "certno_enc": certno_enc,
        "name_masked": mask_name(str(row["psn_name"])),
        "gender": str(row["gend"]),
        "birth_date": birth,
        "insutype": str(row["insutype"]),
        "insu_admdvs": str(row["insu_admdvs"]),
        "created_at": now,
        "updated_at": now,
    }


def _upsert(session: Session, records: list[dict[str, Any]]) -> None:
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:  # pragma: no cover - only the two supported databases
        raise RosterError(f"roster import is not supported on {dialect}")
    stmt = insert(InsuredPerson).values(records)
    keep = {"psn_no", "created_at"}
    stmt = stmt.on_conflict_do_update(
        index_elements=[InsuredPerson.psn_no],
        set_={c.name: stmt.excluded[c.name] for c in InsuredPerson.__table__.columns if c.name not in keep},
    )
    session.execute(stmt)


def load_roster(*, session: Session, path: str | Path, protect: Protect, batch: int = 2000) -> int:
    """Insert or update every person in the roster file (keyed by ``psn_no``); return the row count."""
    path = Path(path)
    count = 0
    pending: list[dict[str, Any]] = []
    for line, row in read_roster(path):
        pending.append(_record(path, line, row, protect))
        if len(pending) >= batch:
            _upsert(session, pending)
            count += len(pending)
            pending = []
    if pending:
        _upsert(session, pending)
        count += len(pending)
    return count


__all__ = [
    "REQUIRED",
    "Protect",
    "RosterError",
    "load_roster",
    "mask_name",
    "protector",
    "read_roster",
]
