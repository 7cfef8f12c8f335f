"""Enrollment: insured persons get an integer key, an encrypted name, their basic-insurance status and
population tags; roster imports, orders, payments, charity funds, policies and policy events.

Persons already loaded are copied over with an empty ``content_hash``, so the next roster import
rewrites each of them (and fills in the encrypted name, which the old table did not keep).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGINT_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)
PERSON_COLUMNS = "psn_no, certno_hash, certno_enc, name_masked, gender, birth_date, insutype, insu_admdvs"


def _person_table(name: str) -> None:
    op.create_table(
        name,
        sa.Column("id", BIGINT_PK, nullable=False),
        sa.Column("psn_no", sa.String(40), nullable=False),
        sa.Column("certno_hash", sa.String(64), nullable=False),
        sa.Column("certno_enc", sa.LargeBinary(), nullable=False),
        sa.Column("name_enc", sa.LargeBinary(), nullable=True),
        sa.Column("name_masked", sa.String(50), nullable=False),
        sa.Column("gender", sa.String(1), nullable=False),
        sa.Column("birth_date", sa.Date(), nullable=False),
        sa.Column("insutype", sa.String(3), nullable=False),
        sa.Column("insu_admdvs", sa.String(6), nullable=False),
        sa.Column("insu_status", sa.String(1), nullable=False),
        sa.Column("insu_status_date", sa.Date(), nullable=True),
        sa.Column("populations", sa.String(200), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_insured_person"),
        sa.UniqueConstraint("psn_no", name="uq_insured_person_psn_no"),
        sa.UniqueConstraint("certno_hash", name="uq_insured_person_certno_hash"),
    )


def upgrade() -> None:
    op.drop_index("ix_insured_person_certno_hash", table_name="insured_person")
    op.rename_table("insured_person", "insured_person_old")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE insured_person_old RENAME CONSTRAINT pk_insured_person TO pk_insured_person_old")
    _person_table("insured_person")
    op.execute(
        f"INSERT INTO insured_person ({PERSON_COLUMNS}, insu_status, populations, content_hash, created_at, "
        f"updated_at) SELECT {PERSON_COLUMNS}, '1', '', '', created_at, updated_at FROM insured_person_old "
        "ORDER BY psn_no"
    )
    op.drop_table("insured_person_old")

    op.create_table(
        "roster_import",
        sa.Column("id", BIGINT_PK, nullable=False),
        sa.Column("file_name", sa.String(255), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("inserted", sa.Integer(), nullable=False),
        sa.Column("updated", sa.Integer(), nullable=False),
        sa.Column("unchanged", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.Column("policies_changed", sa.Integer(), nullable=False),
        sa.Column("report_csv", sa.Text(), nullable=False),
        sa.Column("username", sa.String(64), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_roster_import"),
    )
    op.create_table(
        "policy_order",
        sa.Column("id", BIGINT_PK, nullable=False),
        sa.Column("order_no", sa.String(32), nullable=False),
        sa.Column("plan_id", sa.String(64), nullable=False),
        sa.Column("payer_id", BIGINT_PK, nullable=True),
        sa.Column("payer_name", sa.String(100), nullable=True),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("total_fen", sa.BigInteger(), nullable=False),
        sa.Column("username", sa.String(64), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("paid_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_policy_order"),
        sa.UniqueConstraint("order_no", name="uq_policy_order_order_no"),
        sa.ForeignKeyConstraint(["payer_id"], ["insured_person.id"], name="fk_policy_order_payer_id_insured_person"),
    )
    op.create_index("ix_policy_order_plan_id", "policy_order", ["plan_id"])
    op.create_table(
        "policy",
        sa.Column("id", BIGINT_PK, nullable=False),
        sa.Column("policy_no", sa.String(32), nullable=False),
        sa.Column("order_id", BIGINT_PK, nullable=True),
        sa.Column("plan_id", sa.String(64), nullable=False),
        sa.Column("person_id", BIGINT_PK, nullable=False),
        sa.Column("tier", sa.String(64), nullable=False),
        sa.Column("relation", sa.String(20), nullable=False),
        sa.Column("premium_fen", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("status_date", sa.Date(), nullable=False),
        sa.Column("cover_start", sa.Date(), nullable=False),
        sa.Column("cover_end", sa.Date(), nullable=False),
        sa.Column("verify_code", sa.String(16), nullable=False),
        sa.Column("renew", sa.Boolean(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_policy"),
        sa.UniqueConstraint("policy_no", name="uq_policy_policy_no"),
        sa.UniqueConstraint("plan_id", "person_id", name="uq_policy_plan_id_person_id"),
        sa.UniqueConstraint("verify_code", name="uq_policy_verify_code"),
        sa.ForeignKeyConstraint(["order_id"], ["policy_order.id"], name="fk_policy_order_id_policy_order"),
        sa.ForeignKeyConstraint(["person_id"], ["insured_person.id"], name="fk_policy_person_id_insured_person"),
    )
    op.create_index("ix_policy_order_id", "policy", ["order_id"])
    op.create_index("ix_policy_person_id", "policy", ["person_id"])
    op.create_table(
        "charity_fund",
        sa.Column("id", BIGINT_PK, nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("plan_id", sa.String(64), nullable=False),
        sa.Column("donated_fen", sa.BigInteger(), nullable=False),
        sa.Column("balance_fen", sa.BigInteger(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_charity_fund"),
        sa.CheckConstraint("balance_fen >= 0", name="ck_charity_fund_balance_not_negative"),
    )
    op.create_table(
        "payment",
        sa.Column("id", BIGINT_PK, nullable=False),
        sa.Column("order_id", BIGINT_PK, nullable=False),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("reference", sa.String(64), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("reason", sa.String(200), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_payment"),
        sa.UniqueConstraint("reference", name="uq_payment_reference"),
        sa.ForeignKeyConstraint(["order_id"], ["policy_order.id"], name="fk_payment_order_id_policy_order"),
    )
    op.create_index("ix_payment_order_id", "payment", ["order_id"])
    op.create_table(
        "policy_event",
        sa.Column("id", BIGINT_PK, nullable=False),
        sa.Column("policy_id", BIGINT_PK, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("effective", sa.Date(), nullable=False),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_policy_event"),
        sa.ForeignKeyConstraint(
            ["policy_id"], ["policy.id"], name="fk_policy_event_policy_id_policy", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_policy_event_policy_id", "policy_event", ["policy_id"])


def downgrade() -> None:
    op.drop_table("policy_event")
    op.drop_table("payment")
    op.drop_table("charity_fund")
    op.drop_table("policy")
    op.drop_table("policy_order")
    op.drop_table("roster_import")
    op.rename_table("insured_person", "insured_person_new")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE insured_person_new RENAME CONSTRAINT pk_insured_person TO pk_insured_person_new")
        op.execute("ALTER TABLE insured_person_new RENAME CONSTRAINT uq_insured_person_psn_no TO uq_ipn_psn_no")
        op.execute("ALTER TABLE insured_person_new RENAME CONSTRAINT uq_insured_person_certno_hash TO uq_ipn_hash")
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
        sa.PrimaryKeyConstraint("psn_no", name="pk_insured_person"),
    )
    op.execute(
        f"INSERT INTO insured_person ({PERSON_COLUMNS}, created_at, updated_at) "
        f"SELECT {PERSON_COLUMNS}, created_at, updated_at FROM insured_person_new"
    )
    op.drop_table("insured_person_new")
    op.create_index("ix_insured_person_certno_hash", "insured_person", ["certno_hash"])
