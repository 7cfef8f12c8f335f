"""Year-end adjustments: per person and liability, what the batch engine pays less what was paid.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGINT_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "adjustment",
        sa.Column("id", BIGINT_PK, nullable=False),
        sa.Column("plan_id", sa.String(64), nullable=False),
        sa.Column("person_id", BIGINT_PK, nullable=False),
        sa.Column("liability", sa.String(64), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("paid_fen", sa.BigInteger(), nullable=False),
        sa.Column("due_fen", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"], ["insured_person.id"], name=op.f("fk_adjustment_person_id_insured_person")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_adjustment")),
    )
    op.create_index(op.f("ix_adjustment_plan_id"), "adjustment", ["plan_id"])
    op.create_index(op.f("ix_adjustment_person_id"), "adjustment", ["person_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_adjustment_person_id"), table_name="adjustment")
    op.drop_index(op.f("ix_adjustment_plan_id"), table_name="adjustment")
    op.drop_table("adjustment")
