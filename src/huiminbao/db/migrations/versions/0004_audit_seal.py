"""Audit entries are chained by a sealer after they commit, not by the writer while it holds a lock.

The writer used to lock the chain's last row and chain to it; on PostgreSQL two writers waiting on
that lock both chained to the same row (the waiter re-reads the row it locked, not the row the other
had just added), forking the chain. Now a writer only appends; ``audit.seal`` gives each committed
entry its place (``seq``), the previous hash and its own hash, holding the one row of ``audit_head``.
Existing entries keep their hashes and are numbered in id order. On PostgreSQL the append-only trigger
lets exactly that through: an unsealed row sealed once, everything it says unchanged.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GENESIS = "0" * 64
CONTENT = ("id", "at", "actor", "role", "address", "action", "entity", "entity_id", "before", "after")
APPEND_ONLY = f"""
CREATE OR REPLACE FUNCTION audit_entry_append_only() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND OLD.seq IS NULL AND NEW.seq IS NOT NULL
     AND ({", ".join("NEW." + c for c in CONTENT)}) IS NOT DISTINCT FROM ({", ".join("OLD." + c for c in CONTENT)})
  THEN
    RETURN NEW;
  END IF;
  RAISE EXCEPTION 'audit_entry is append-only';
END; $$ LANGUAGE plpgsql;
"""
STRICT = """
CREATE OR REPLACE FUNCTION audit_entry_append_only() RETURNS trigger AS $$
BEGIN RAISE EXCEPTION 'audit_entry is append-only'; END; $$ LANGUAGE plpgsql;
"""


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        op.execute("ALTER TABLE audit_entry DISABLE TRIGGER audit_entry_no_change")
    with op.batch_alter_table("audit_entry") as batch:
        batch.add_column(sa.Column("seq", sa.BigInteger(), nullable=True))
        batch.alter_column("prev_hash", existing_type=sa.String(64), nullable=True)
        batch.alter_column("hash", existing_type=sa.String(64), nullable=True)
    op.execute("UPDATE audit_entry SET seq = (SELECT count(*) FROM audit_entry AS e WHERE e.id <= audit_entry.id)")
    with op.batch_alter_table("audit_entry") as batch:
        batch.create_unique_constraint(op.f("uq_audit_entry_seq"), ["seq"])
    op.create_index(
        "ix_audit_entry_unsealed",
        "audit_entry",
        ["id"],
        sqlite_where=sa.text("seq IS NULL"),
        postgresql_where=sa.text("seq IS NULL"),
    )
    head = op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_head")),
    )
    last = op.get_bind().execute(sa.text("SELECT seq, hash FROM audit_entry ORDER BY seq DESC LIMIT 1")).first()
    op.bulk_insert(head, [{"id": 1, "seq": last[0] if last else 0, "hash": last[1] if last else GENESIS}])
    if postgres:
        op.execute(APPEND_ONLY)
        op.execute("ALTER TABLE audit_entry ENABLE TRIGGER audit_entry_no_change")


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    if op.get_bind().execute(sa.text("SELECT count(*) FROM audit_entry WHERE seq IS NULL")).scalar():
        raise RuntimeError("audit entries are waiting to be sealed: run `hmb audit verify` (it seals them) first")
    if postgres:
        op.execute(STRICT)
        op.execute("ALTER TABLE audit_entry DISABLE TRIGGER audit_entry_no_change")
    op.drop_table("audit_head")
    op.drop_index("ix_audit_entry_unsealed", table_name="audit_entry")
    with op.batch_alter_table("audit_entry") as batch:
        batch.drop_constraint(op.f("uq_audit_entry_seq"), type_="unique")
        batch.drop_column("seq")
        batch.alter_column("prev_hash", existing_type=sa.String(64), nullable=False)
        batch.alter_column("hash", existing_type=sa.String(64), nullable=False)
    if postgres:
        op.execute("ALTER TABLE audit_entry ENABLE TRIGGER audit_entry_no_change")
