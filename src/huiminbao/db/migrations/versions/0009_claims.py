"""Claims: the bureau's settlement records, claims with their stays, documents and transitions, and the
notifications outbox.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("dedupe_key", sa.String(length=120), nullable=False),
        sa.Column("event", sa.String(length=64), nullable=False),
        sa.Column("psn_no", sa.String(length=40), nullable=True),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column(
            "status",
            sa.Enum("pending", "sending", "sent", "failed", name="outboxstatus", native_enum=False, length=20),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_outbox_dedupe_key")),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_due", ["status", "next_attempt_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_outbox_psn_no"), ["psn_no"], unique=False)

    op.create_table(
        "bureau_record",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("setl_id", sa.String(length=64), nullable=False),
        sa.Column("person_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("hospital_code", sa.String(length=30), nullable=False),
        sa.Column("med_type", sa.String(length=10), nullable=False),
        sa.Column("begndate", sa.Date(), nullable=False),
        sa.Column("enddate", sa.Date(), nullable=True),
        sa.Column("setl_time", sa.DateTime(), nullable=False),
        sa.Column("medfee_sumamt_fen", sa.BigInteger(), nullable=False),
        sa.Column("psn_part_amt_fen", sa.BigInteger(), nullable=False),
        sa.Column("out_of_area", sa.Boolean(), nullable=False),
        sa.Column("record", sa.Text(), nullable=False),
        sa.Column("body_sha256", sa.String(length=64), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"], ["insured_person.id"], name=op.f("fk_bureau_record_person_id_insured_person")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bureau_record")),
        sa.UniqueConstraint("setl_id", name=op.f("uq_bureau_record_setl_id")),
    )
    with op.batch_alter_table("bureau_record", schema=None) as batch_op:
        batch_op.create_index("ix_bureau_record_person_time", ["person_id", "setl_time"], unique=False)

    op.create_table(
        "claim",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("claim_no", sa.String(length=32), nullable=True),
        sa.Column("person_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("psn_no", sa.String(length=40), nullable=False),
        sa.Column("plan_id", sa.String(length=64), nullable=False),
        sa.Column("policy_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "channel", sa.Enum("online", "counter", name="claimchannel", native_enum=False, length=20), nullable=False
        ),
        sa.Column("filed_by", sa.String(length=64), nullable=False),
        sa.Column("filed_by_psn_no", sa.String(length=40), nullable=True),
        sa.Column(
            "state",
            sa.Enum(
                "submitted",
                "documents_requested",
                "in_review",
                "approved",
                "partly_approved",
                "rejected",
                "payment_instructed",
                "paid",
                "withdrawn",
                name="claimstate",
                native_enum=False,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("submitted_on", sa.Date(), nullable=False),
        sa.Column("paused_since", sa.Date(), nullable=True),
        sa.Column("due_date", sa.Date(), nullable=True),
        sa.Column("requested", sa.Text(), nullable=True),
        sa.Column("assignee", sa.String(length=64), nullable=True),
        sa.Column("locked_by", sa.String(length=64), nullable=True),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "reason_code",
            sa.Enum(
                "not_covered",
                "outside_cover",
                "not_filed",
                "preexisting",
                "documents_incomplete",
                "documents_invalid",
                "duplicate",
                "other",
                name="rejectreason",
                native_enum=False,
                length=24,
            ),
            nullable=True,
        ),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("claimed_fen", sa.BigInteger(), nullable=False),
        sa.Column("payout_fen", sa.BigInteger(), nullable=True),
        sa.Column("decided_on", sa.Date(), nullable=True),
        sa.Column("paid_on", sa.Date(), nullable=True),
        sa.Column("payment_ref", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["insured_person.id"], name=op.f("fk_claim_person_id_insured_person")),
        sa.ForeignKeyConstraint(["policy_id"], ["policy.id"], name=op.f("fk_claim_policy_id_policy")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_claim")),
        sa.UniqueConstraint("claim_no", name=op.f("uq_claim_claim_no")),
    )
    with op.batch_alter_table("claim", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_claim_assignee"), ["assignee"], unique=False)
        batch_op.create_index(batch_op.f("ix_claim_person_id"), ["person_id"], unique=False)
        batch_op.create_index("ix_claim_plan_state", ["plan_id", "state", "due_date"], unique=False)
        batch_op.create_index("ix_claim_queue", ["state", "due_date", "id"], unique=False)

    op.create_table(
        "claim_document",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("claim_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "invoice",
                "fee_list",
                "discharge_summary",
                "prescription",
                "filing_proof",
                "pharmacy_receipt",
                "other",
                name="documentkind",
                native_enum=False,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("media_type", sa.String(length=40), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("uploaded_by", sa.String(length=64), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["claim_id"], ["claim.id"], name=op.f("fk_claim_document_claim_id_claim"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_claim_document")),
    )
    with op.batch_alter_table("claim_document", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_claim_document_claim_id"), ["claim_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_claim_document_sha256"), ["sha256"], unique=False)

    op.create_table(
        "claim_item",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("claim_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("bureau_record_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("setl_id", sa.String(length=64), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column(
            "decision",
            sa.Enum("pending", "approved", "rejected", name="itemdecision", native_enum=False, length=20),
            nullable=False,
        ),
        sa.Column(
            "reason_code",
            sa.Enum(
                "not_covered",
                "outside_cover",
                "not_filed",
                "preexisting",
                "documents_incomplete",
                "documents_invalid",
                "duplicate",
                "other",
                name="rejectreason",
                native_enum=False,
                length=24,
            ),
            nullable=True,
        ),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("filing_confirmed", sa.Boolean(), nullable=False),
        sa.Column("settlement_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("payout_fen", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["bureau_record_id"], ["bureau_record.id"], name=op.f("fk_claim_item_bureau_record_id_bureau_record")
        ),
        sa.ForeignKeyConstraint(
            ["claim_id"], ["claim.id"], name=op.f("fk_claim_item_claim_id_claim"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["settlement_id"], ["settlement.id"], name=op.f("fk_claim_item_settlement_id_settlement")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_claim_item")),
    )
    with op.batch_alter_table("claim_item", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_claim_item_claim_id"), ["claim_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_claim_item_setl_id"), ["setl_id"], unique=False)
        batch_op.create_index(
            "uq_claim_item_active_setl_id",
            ["setl_id"],
            unique=True,
            sqlite_where=sa.text("active"),
            postgresql_where=sa.text("active"),
        )

    op.create_table(
        "claim_transition",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("claim_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "from_state",
            sa.Enum(
                "submitted",
                "documents_requested",
                "in_review",
                "approved",
                "partly_approved",
                "rejected",
                "payment_instructed",
                "paid",
                "withdrawn",
                name="claimstate",
                native_enum=False,
                length=24,
            ),
            nullable=True,
        ),
        sa.Column(
            "to_state",
            sa.Enum(
                "submitted",
                "documents_requested",
                "in_review",
                "approved",
                "partly_approved",
                "rejected",
                "payment_instructed",
                "paid",
                "withdrawn",
                name="claimstate",
                native_enum=False,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("on", sa.Date(), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["claim_id"], ["claim.id"], name=op.f("fk_claim_transition_claim_id_claim"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_claim_transition")),
    )
    with op.batch_alter_table("claim_transition", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_claim_transition_claim_id"), ["claim_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("claim_transition", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_claim_transition_claim_id"))

    op.drop_table("claim_transition")
    with op.batch_alter_table("claim_item", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_claim_item_active_setl_id", sqlite_where=sa.text("active"), postgresql_where=sa.text("active")
        )
        batch_op.drop_index(batch_op.f("ix_claim_item_setl_id"))
        batch_op.drop_index(batch_op.f("ix_claim_item_claim_id"))

    op.drop_table("claim_item")
    with op.batch_alter_table("claim_document", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_claim_document_sha256"))
        batch_op.drop_index(batch_op.f("ix_claim_document_claim_id"))

    op.drop_table("claim_document")
    with op.batch_alter_table("claim", schema=None) as batch_op:
        batch_op.drop_index("ix_claim_queue")
        batch_op.drop_index("ix_claim_plan_state")
        batch_op.drop_index(batch_op.f("ix_claim_person_id"))
        batch_op.drop_index(batch_op.f("ix_claim_assignee"))

    op.drop_table("claim")
    with op.batch_alter_table("bureau_record", schema=None) as batch_op:
        batch_op.drop_index("ix_bureau_record_person_time")

    op.drop_table("bureau_record")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_psn_no"))
        batch_op.drop_index("ix_outbox_due")

    op.drop_table("outbox")
