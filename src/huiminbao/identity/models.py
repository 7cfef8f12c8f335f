"""Users, hospitals and the audit log.

A user has exactly one role; the roles that act for someone are linked to it (a resident
to a ``psn_no``, a hospital user to a hospital, staff of an insurer to its code). Passwords
are argon2 hashes. A hospital's signing secret is stored SM4-encrypted, with the previous
secret kept for a grace period after rotation. The audit log is append-only and
hash-chained: each row stores the hash of its content and of the row before it (see ``audit``).
"""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from huiminbao.db.base import Base, UTCDateTime, str_enum, utcnow
from huiminbao.db.columns import PSN_NO


class Role(enum.StrEnum):
    RESIDENT = "resident"
    HOSPITAL = "hospital"
    CLERK = "clerk"  # counter staff
    ADJUSTER = "adjuster"
    FINANCE = "finance"
    ACTUARY = "actuary"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"


class User(Base):
    __tablename__ = "app_user"

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(64), unique=True)
    role: Mapped[Role] = mapped_column(str_enum(Role))
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    psn_no: Mapped[str | None] = mapped_column(PSN_NO, nullable=True)
    hospital_code: Mapped[str | None] = mapped_column(sa.String(30), nullable=True)
    insurer_code: Mapped[str | None] = mapped_column(sa.String(30), nullable=True)
    active: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(sa.Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Hospital(Base):
    __tablename__ = "hospital"

    code: Mapped[str] = mapped_column(sa.String(30), primary_key=True)  # fixmedins_code
    name: Mapped[str] = mapped_column(sa.String(100))
    level: Mapped[int | None] = mapped_column(sa.SmallInteger, nullable=True)  # 1, 2, 3
    secret_enc: Mapped[bytes] = mapped_column(sa.LargeBinary)
    previous_secret_enc: Mapped[bytes | None] = mapped_column(sa.LargeBinary, nullable=True)
    previous_valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class UsedNonce(Base):
    """Nonces of signed requests seen within the replay window (older rows may be purged)."""

    __tablename__ = "used_nonce"

    hospital_code: Mapped[str] = mapped_column(sa.String(30), primary_key=True)
    nonce: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class AuditEntry(Base):
    __tablename__ = "audit_entry"

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(sa.String(64))  # username, or "system" / "cli"
    role: Mapped[str] = mapped_column(sa.String(20))
    address: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    action: Mapped[str] = mapped_column(sa.String(64))
    entity: Mapped[str] = mapped_column(sa.String(64))
    entity_id: Mapped[str] = mapped_column(sa.String(128))
    before: Mapped[str | None] = mapped_column(sa.Text, nullable=True)  # JSON, personal fields masked
    after: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    # Filled in once by ``audit.seal``, shortly after the row's transaction commits: its place in the
    # chain, the hash of the entry before it and its own hash.
    seq: Mapped[int | None] = mapped_column(sa.BigInteger, unique=True, nullable=True)
    prev_hash: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    hash: Mapped[str | None] = mapped_column(sa.String(64), unique=True, nullable=True)

    __table_args__ = (
        sa.Index(
            "ix_audit_entry_unsealed",
            "id",
            sqlite_where=sa.text("seq IS NULL"),
            postgresql_where=sa.text("seq IS NULL"),
        ),
    )


class AuditHead(Base):
    """The chain's last sealed entry (one row): sealers lock it, so two of them never extend the chain
    from the same entry."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(sa.BigInteger)
    hash: Mapped[str] = mapped_column(sa.String(64))
