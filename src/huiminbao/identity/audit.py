"""The audit log: every change made through the platform, append-only and hash-chained.

Each row's ``hash`` is SHA-256 over its content (who, role, when, from where, what, before and
after) and the previous row's hash, so a changed, inserted or deleted row breaks the chain at
that row. ``verify`` walks the chain and names the first row that does not fit. Personal
fields are masked before they are written (callers pass already-masked values).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from huiminbao.db.base import utcnow
from huiminbao.identity.models import AuditEntry

GENESIS = "0" * 64


@dataclass(frozen=True)
class Actor:
    """Who makes a change: a user (name and role), or the CLI or the system."""

    name: str
    role: str
    address: str | None = None


CLI = Actor("cli", "operator")


def _dump(value: dict[str, Any] | None) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def _digest(row: AuditEntry) -> str:
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
        row.prev_hash,
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
    """Append one entry, chained to the last. Serialised by the caller's transaction: on PostgreSQL
    the last row is locked (``FOR UPDATE``) so two writers cannot chain to the same row."""
    last = session.scalars(sa.select(AuditEntry).order_by(AuditEntry.id.desc()).limit(1).with_for_update()).first()
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
        prev_hash=last.hash if last is not None else GENESIS,
    )
    row.hash = _digest(row)
    session.add(row)
    session.flush()
    return row


def verify(*, session: Session) -> tuple[int, int | None, str | None]:
    """Walk the chain: (rows checked, id of the first bad row or None, what is wrong)."""
    prev = GENESIS
    n = 0
    for row in session.scalars(sa.select(AuditEntry).order_by(AuditEntry.id)):
        n += 1
        if row.prev_hash != prev:
            return n, row.id, "上一行的哈希不符（之前有行被删除、插入或改动）"
        if _digest(row) != row.hash:
            return n, row.id, "本行内容与其哈希不符（本行被改动）"
        prev = row.hash
    return n, None, None
