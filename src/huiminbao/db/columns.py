"""Column types shared by the models."""

from __future__ import annotations

import sqlalchemy as sa

BigIntPK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
"""A 64-bit surrogate key; on SQLite only INTEGER PRIMARY KEY auto-increments."""

MAX_ROW_ID = 2**63 - 1
"""The largest such key: a larger id in a URL is no row, and the database driver cannot even bind it."""

PSN_NO = sa.String(40)
"""The national platform's person number (人员编号)."""

PLAN_ID = sa.String(64)
