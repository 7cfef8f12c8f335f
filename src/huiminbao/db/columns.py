"""Column types shared by the models."""

from __future__ import annotations

import sqlalchemy as sa

BigIntPK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
"""A 64-bit surrogate key; on SQLite only INTEGER PRIMARY KEY auto-increments."""

PSN_NO = sa.String(40)
"""The national platform's person number (人员编号)."""

PLAN_ID = sa.String(64)
