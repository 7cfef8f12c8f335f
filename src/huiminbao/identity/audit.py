"""The audit log: every change made through the platform, append-only and hash-chained.

Each sealed row's ``hash`` is SHA-256 over its content (who, role, when, from where, what, before
and after) and the previous row's hash, so a changed, inserted or deleted row breaks the chain at
that row. ``verify`` walks the chain and names the first row that does not fit. Personal fields are
masked before they are written (callers pass already-masked values).

Writing and chaining are two steps. ``record`` only appends the entry in the caller's transaction, so
concurrent writers never wait for each other on the chain. ``seal`` then chains every committed entry
not yet chained, in id order, while holding the one row of ``audit_head``: the API's server seals in
the background about once a second, and ``Database.session`` seals after a unit of work that recorded
something has committed (the CLI, flows, tests). Until it is sealed (normally well under a second) an
entry is as exposed as any other row; on PostgreSQL a trigger refuses to change or delete entries at
any time, sealed or not, except for the sealing itself.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from huiminbao.db.base import utcnow
from huiminbao.db.session import AFTER_COMMIT, Database
from huiminbao.identity.models import AuditEntry, AuditHead

GENESIS = "0" * 64
SEAL_BATCH = 5000


@dataclass(frozen=True)
class Actor:
    """Who makes a change: a user (name and role), or the CLI or the system."""

    name: str
    role: str
    address: str | None = None


CLI = Actor("cli", "operator")


def _dump(value: dict[str, Any] | None) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def _digest(row: AuditEntry, prev_hash: str | None) -> str:
    content = [
        row.at.isoformat(timespec="microseconds"),
        row.actor,
        row.role,
        row.address,
        row.action,
        row.entity,
        row.entity_id,
        row.before,
        row.after,
        prev_hash,
    ]
    return hashlib.sha256(json.dumps(content, ensure_ascii=False).encode("utf-8")).hexdigest()


def record(
    *,
    session: Session,
    actor: Actor,
    action: str,
    entity: str,
    entity_id: str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEntry:
    """Append one entry to the caller's transaction; it is chained by ``seal`` once committed."""
    row = AuditEntry(
        at=utcnow(),
        actor=actor.name,
        role=actor.role,
        address=actor.address,
        action=action,
        entity=entity,
        entity_id=entity_id,
        before=_dump(before),
        after=_dump(after),
    )
    session.add(row)
    session.info.setdefault(AFTER_COMMIT, {})["audit.seal"] = _seal_after_commit
    return row


def _seal_after_commit(session: Session) -> None:
    seal(session=session)


def seal(*, session: Session) -> int:
    """Chain the committed entries not chained yet, oldest id first; the number sealed. The caller
    commits. Two sealers queue on ``audit_head``'s row (PostgreSQL's row lock, SQLite's write lock), and
    the one that waited reads the head as the other left it."""
    if session.scalar(sa.select(AuditEntry.id).where(AuditEntry.seq.is_(None)).limit(1)) is None:
        return 0  # nothing to do, and no write lock taken (SQLite has one writer at a time)
    head = session.execute(
        sa.update(AuditHead).where(AuditHead.id == 1).values(seq=AuditHead.seq).returning(AuditHead.seq, AuditHead.hash)
    ).one()
    seq, prev = head.seq, head.hash
    sealed = 0
    while rows := session.scalars(
        sa.select(AuditEntry).where(AuditEntry.seq.is_(None)).order_by(AuditEntry.id).limit(SEAL_BATCH)
    ).all():
        changes = []
        for row in rows:
            seq += 1
            digest = _digest(row, prev)
            changes.append({"id": row.id, "seq": seq, "prev_hash": prev, "hash": digest})
            prev = digest
        session.execute(sa.update(AuditEntry), changes)
        sealed += len(rows)
    session.expire_all()  # entries this session had loaded now have their seal
    session.execute(sa.update(AuditHead).where(AuditHead.id == 1).values(seq=seq, hash=prev))
    return sealed


def seal_pending(db: Database) -> int:
    """Seal in a transaction of its own (the server's background sealer, ``hmb audit verify``)."""
    with db.session() as s:
        return seal(session=s)


def unsealed(*, session: Session) -> int:
    """Entries written but not chained yet."""
    return session.scalar(sa.select(sa.func.count()).where(AuditEntry.seq.is_(None))) or 0


def verify(*, session: Session) -> tuple[int, int | None, str | None]:
    """Walk the sealed chain in order: (rows checked, id of the first bad row or None, what is wrong)."""
    prev = GENESIS
    n = 0
    for row in session.scalars(sa.select(AuditEntry).where(AuditEntry.seq.is_not(None)).order_by(AuditEntry.seq)):
        n += 1
        if row.prev_hash != prev or row.seq != n:
            return n, row.id, "上一行的哈希不符（之前有行被删除、插入或改动）"
        if _digest(row, row.prev_hash) != row.hash:
            return n, row.id, "本行内容与其哈希不符（本行被改动）"
        prev = row.hash
    head = session.get(AuditHead, 1)
    if head is not None and (head.seq, head.hash) != (n, prev):
        return n, row.id if n else 0, "链尾与记录不符（此行之后的记录被删除）"
    return n, None, None
