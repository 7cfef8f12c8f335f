"""Insured persons' mobile phones: SM4 ciphertext and a masked form, both optional (the roster's
``phone`` column is optional, and claims notifications will text whoever has one).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("insured_person", sa.Column("phone_enc", sa.LargeBinary(), nullable=True))
    op.add_column("insured_person", sa.Column("phone_masked", sa.String(11), nullable=True))


def downgrade() -> None:
    op.drop_column("insured_person", "phone_masked")
    op.drop_column("insured_person", "phone_enc")
