"""One-stop settlement: the settlements the platform paid on (record, payout, the answer given) and
their lines per liability.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGINT_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "settlement",
        sa.Column("id", BIGINT_PK, nullable=False),
        sa.Column("setl_id", sa.String(64), nullable=False),
        sa.Column("hospital_code", sa.String(30), nullable=False),
        sa.Column("person_id", BIGINT_PK, nullable=False),
        sa.Column("plan_id", sa.String(64), nullable=False),
        sa.Column("policy_id", BIGINT_PK, nullable=False),
        sa.Column("tier", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("setl_time", sa.DateTime(), nullable=False),
        sa.Column("begndate", sa.Date(), nullable=False),
        sa.Column("init_setl_id", sa.String(64), nullable=True),
        sa.Column("refunded_by", sa.String(64), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("payout_fen", sa.BigInteger(), nullable=False),
        sa.Column("body_sha256", sa.String(64), nullable=False),
        sa.Column("record", sa.Text(), nullable=False),
        sa.Column("response", sa.Text(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"], ["insured_person.id"], name=op.f("fk_settlement_person_id_insured_person")
        ),
        sa.ForeignKeyConstraint(["policy_id"], ["policy.id"], name=op.f("fk_settlement_policy_id_policy")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_settlement")),
        sa.UniqueConstraint("setl_id", name=op.f("uq_settlement_setl_id")),
        sa.UniqueConstraint("refunded_by", name=op.f("uq_settlement_refunded_by")),
    )
    for column in ("hospital_code", "person_id", "plan_id", "policy_id"):
        op.create_index(op.f(f"ix_settlement_{column}"), "settlement", [column])
    op.create_table(
        "settlement_line",
        sa.Column("id", BIGINT_PK, nullable=False),
        sa.Column("settlement_id", BIGINT_PK, nullable=False),
        sa.Column("liability", sa.String(64), nullable=False),
        *[
            sa.Column(c, sa.BigInteger(), nullable=False)
            for c in ("base", "counted", "deductible_used", "ratio", "entitled", "payout")
        ],
        sa.Column("reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["settlement_id"],
            ["settlement.id"],
            name=op.f("fk_settlement_line_settlement_id_settlement"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_settlement_line")),
        sa.UniqueConstraint("settlement_id", "liability", name=op.f("uq_settlement_line_settlement_id_liability")),
    )


def downgrade() -> None:
    op.drop_table("settlement_line")
    for column in ("hospital_code", "person_id", "plan_id", "policy_id"):
        op.drop_index(op.f(f"ix_settlement_{column}"), table_name="settlement")
    op.drop_table("settlement")
