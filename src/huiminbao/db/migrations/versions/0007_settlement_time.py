"""Settlements by time: the hospitals' lists (their own, newest first, by date range) and the day's
one-stop volume read settlements by ``setl_time``.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_settlement_setl_time", "settlement", ["setl_time"])
    op.create_index("ix_settlement_hospital_time", "settlement", ["hospital_code", "setl_time"])


def downgrade() -> None:
    op.drop_index("ix_settlement_hospital_time", table_name="settlement")
    op.drop_index("ix_settlement_setl_time", table_name="settlement")
