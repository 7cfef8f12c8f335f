"""The registry of plan files the platform has loaded.

Plans live as YAML files; this table records which content (by SHA-256) was in force
when, so that an adjudication run can be traced to the exact text it used even after
the file is edited.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from huiminbao.db.base import Base, UTCDateTime, str_enum, utcnow
from huiminbao.db.columns import PLAN_ID, BigIntPK
from huiminbao.plans.schema import PlanStatus


class PlanVersion(Base):
    __tablename__ = "plan_version"
    __table_args__ = (sa.UniqueConstraint("plan_id", "content_sha256"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    plan_id: Mapped[str] = mapped_column(PLAN_ID, index=True)
    content_sha256: Mapped[str] = mapped_column(sa.String(64))
    name: Mapped[str] = mapped_column(sa.String(100))
    city: Mapped[str] = mapped_column(sa.String(50))
    year: Mapped[int] = mapped_column(sa.Integer)
    status: Mapped[PlanStatus] = mapped_column(str_enum(PlanStatus))
    source_file: Mapped[str] = mapped_column(sa.String(500))
    loaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


__all__ = ["PlanStatus", "PlanVersion"]
