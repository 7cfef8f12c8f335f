"""Identity: users, hospitals with their signing secrets, used nonces, the hash-chained audit log.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGINT_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "app_user",
        sa.Column("id", BIGINT_PK, nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("psn_no", sa.String(40), nullable=True),
        sa.Column("hospital_code", sa.String(30), nullable=True),
        sa.Column("insurer_code", sa.String(30), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("locked_until", TS, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_app_user")),
        sa.UniqueConstraint("username", name=op.f("uq_app_user_username")),
    )
    op.create_table(
        "hospital",
        sa.Column("code", sa.String(30), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("level", sa.SmallInteger(), nullable=True),
        sa.Column("secret_enc", sa.LargeBinary(), nullable=False),
        sa.Column("previous_secret_enc", sa.LargeBinary(), nullable=True),
        sa.Column("previous_valid_until", TS, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_hospital")),
    )
    op.create_table(
        "used_nonce",
        sa.Column("hospital_code", sa.String(30), nullable=False),
        sa.Column("nonce", sa.String(64), nullable=False),
        sa.Column("seen_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("hospital_code", "nonce", name=op.f("pk_used_nonce")),
    )
    op.create_index(op.f("ix_used_nonce_seen_at"), "used_nonce", ["seen_at"])
    op.create_table(
        "audit_entry",
        sa.Column("id", BIGINT_PK, nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("address", sa.String(64), nullable=True),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("entity", sa.String(64), nullable=False),
        sa.Column("entity_id", sa.String(128), nullable=False),
        sa.Column("before", sa.Text(), nullable=True),
        sa.Column("after", sa.Text(), nullable=True),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_entry")),
        sa.UniqueConstraint("hash", name=op.f("uq_audit_entry_hash")),
    )
    if op.get_bind().dialect.name == "postgresql":
        # append-only: the application may insert and read audit rows, never change or delete them
        op.execute(
            """
            CREATE FUNCTION audit_entry_append_only() RETURNS trigger AS $$
            BEGIN RAISE EXCEPTION 'audit_entry is append-only'; END; $$ LANGUAGE plpgsql;
            CREATE TRIGGER audit_entry_no_change BEFORE UPDATE OR DELETE ON audit_entry
            FOR EACH ROW EXECUTE FUNCTION audit_entry_append_only();
            """
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER audit_entry_no_change ON audit_entry; DROP FUNCTION audit_entry_append_only();")
    op.drop_table("audit_entry")
    op.drop_index(op.f("ix_used_nonce_seen_at"), table_name="used_nonce")
    op.drop_table("used_nonce")
    op.drop_table("hospital")
    op.drop_table("app_user")
