"""Service: complaints and inquiries with their replies.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "service_case",
        sa.Column("id", ID, nullable=False),
        sa.Column("case_no", sa.String(length=32), nullable=False),
        sa.Column(
            "kind", sa.Enum("complaint", "inquiry", name="casekind", native_enum=False, length=20), nullable=False
        ),
        sa.Column(
            "category",
            sa.Enum(
                "claim_time",
                "claim_amount",
                "enrollment",
                "payment",
                "coverage",
                "attitude",
                "information",
                "other",
                name="casecategory",
                native_enum=False,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column(
            "channel",
            sa.Enum(
                "online", "hotline", "counter", "letter", "regulator", name="casechannel", native_enum=False, length=20
            ),
            nullable=False,
        ),
        sa.Column("person_id", ID, nullable=True),
        sa.Column("psn_no", sa.String(length=40), nullable=True),
        sa.Column("claim_no", sa.String(length=32), nullable=True),
        sa.Column("subject", sa.String(length=100), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column(
            "status",
            sa.Enum("open", "answered", "escalated", "closed", name="casestatus", native_enum=False, length=20),
            nullable=False,
        ),
        sa.Column("opened_by", sa.String(length=64), nullable=False),
        sa.Column("handler", sa.String(length=64), nullable=True),
        sa.Column("opened_on", sa.Date(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("escalation_level", sa.Integer(), nullable=False),
        sa.Column("escalated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answered_on", sa.Date(), nullable=True),
        sa.Column("closed_on", sa.Date(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"], ["insured_person.id"], name=op.f("fk_service_case_person_id_insured_person")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_case")),
        sa.UniqueConstraint("case_no", name=op.f("uq_service_case_case_no")),
    )
    with op.batch_alter_table("service_case", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_service_case_handler"), ["handler"], unique=False)
        batch_op.create_index(batch_op.f("ix_service_case_person_id"), ["person_id"], unique=False)
        batch_op.create_index("ix_service_case_queue", ["status", "due_date", "id"], unique=False)
        batch_op.create_index("ix_service_case_counts", ["opened_on", "kind", "category"], unique=False)

    op.create_table(
        "service_reply",
        sa.Column("id", ID, nullable=False),
        sa.Column("case_id", ID, nullable=False),
        sa.Column("author", sa.String(length=64), nullable=False),
        sa.Column("author_role", sa.String(length=20), nullable=False),
        sa.Column(
            "visibility",
            sa.Enum("resident", "internal", name="replyvisibility", native_enum=False, length=20),
            nullable=False,
        ),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["service_case.id"], name=op.f("fk_service_reply_case_id_service_case"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_reply")),
    )
    with op.batch_alter_table("service_reply", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_service_reply_case_id"), ["case_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("service_reply", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_service_reply_case_id"))

    op.drop_table("service_reply")
    with op.batch_alter_table("service_case", schema=None) as batch_op:
        batch_op.drop_index("ix_service_case_counts")
        batch_op.drop_index("ix_service_case_queue")
        batch_op.drop_index(batch_op.f("ix_service_case_person_id"))
        batch_op.drop_index(batch_op.f("ix_service_case_handler"))

    op.drop_table("service_case")
