"""Initial tables: plan registry, insured people, adjudication runs and outcomes, accumulators.

Revision ID: 0001
Revises:
Create Date: 2026-11-23

Migrations use plain SQLAlchemy types, not the models' classes, so that a later change
to a model cannot silently change what an old migration does.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGINT_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "plan_version",
        sa.Column("id", BIGINT_PK, nullable=False),
        sa.Column("plan_id", sa.String(64), nullable=False),
        sa.Column("content_sha256", sa.String(64), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("city", sa.String(50), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("source_file", sa.String(500), nullable=False),
        sa.Column("loaded_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plan_version")),
        sa.UniqueConstraint("plan_id", "content_sha256", name=op.f("uq_plan_version_plan_id_content_sha256")),
    )
    op.create_index(op.f("ix_plan_version_plan_id"), "plan_version", ["plan_id"])

    op.create_table(
        "insured_person",
        sa.Column("psn_no", sa.String(40), nullable=False),
        sa.Column("certno_hash", sa.String(64), nullable=False),
        sa.Column("certno_enc", sa.LargeBinary(), nullable=False),
        sa.Column("name_masked", sa.String(50), nullable=False),
        sa.Column("gender", sa.String(1), nullable=False),
        sa.Column("birth_date", sa.Date(), nullable=False),
        sa.Column("insutype", sa.String(3), nullable=False),
        sa.Column("insu_admdvs", sa.String(6), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("psn_no", name=op.f("pk_insured_person")),
    )
    op.create_index(op.f("ix_insured_person_certno_hash"), "insured_person", ["certno_hash"])

    op.create_table(
        "adjudication_run",
        sa.Column("id", BIGINT_PK, nullable=False),
        sa.Column("plan_id", sa.String(64), nullable=False),
        sa.Column("tier", sa.String(64), nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("finished_at", TS, nullable=True),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.Column("total_payout_fen", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_adjudication_run")),
    )
    op.create_index(op.f("ix_adjudication_run_plan_id"), "adjudication_run", ["plan_id"])

    op.create_table(
        "settlement_outcome",
        sa.Column("id", BIGINT_PK, nullable=False),
        sa.Column("run_id", BIGINT_PK, nullable=False),
        sa.Column("setl_id", sa.String(64), nullable=False),
        sa.Column("psn_no", sa.String(40), nullable=False),
        sa.Column("payout_fen", sa.BigInteger(), nullable=False),
        sa.Column("is_reversal", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["adjudication_run.id"],
            name=op.f("fk_settlement_outcome_run_id_adjudication_run"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_settlement_outcome")),
        sa.UniqueConstraint("run_id", "setl_id", name=op.f("uq_settlement_outcome_run_id_setl_id")),
    )
    op.create_index(op.f("ix_settlement_outcome_psn_no"), "settlement_outcome", ["psn_no"])

    op.create_table(
        "accumulator",
        sa.Column("id", BIGINT_PK, nullable=False),
        sa.Column("psn_no", sa.String(40), nullable=False),
        sa.Column("plan_id", sa.String(64), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accumulator")),
        sa.UniqueConstraint("psn_no", "plan_id", "year", "key", name=op.f("uq_accumulator_psn_no_plan_id_year_key")),
    )


def downgrade() -> None:
    op.drop_table("accumulator")
    op.drop_index(op.f("ix_settlement_outcome_psn_no"), table_name="settlement_outcome")
    op.drop_table("settlement_outcome")
    op.drop_index(op.f("ix_adjudication_run_plan_id"), table_name="adjudication_run")
    op.drop_table("adjudication_run")
    op.drop_index(op.f("ix_insured_person_certno_hash"), table_name="insured_person")
    op.drop_table("insured_person")
    op.drop_index(op.f("ix_plan_version_plan_id"), table_name="plan_version")
    op.drop_table("plan_version")
