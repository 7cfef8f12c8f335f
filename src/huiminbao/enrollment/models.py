"""Insured people as imported from the bureau's roster of basic insured persons.

The ID number (身份证号) is never stored in clear: ``certno_hash`` (SM3, hex) finds a
person by ID number, ``certno_enc`` (SM4) lets an authorised role recover it. The
helpers that compute both live in ``huiminbao.identity.pii``.
"""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from huiminbao.db.base import Base, UTCDateTime, utcnow
from huiminbao.db.columns import PSN_NO


class InsuredPerson(Base):
    __tablename__ = "insured_person"

    psn_no: Mapped[str] = mapped_column(PSN_NO, primary_key=True)
    certno_hash: Mapped[str] = mapped_column(sa.String(64), index=True)
    certno_enc: Mapped[bytes] = mapped_column(sa.LargeBinary)
    name_masked: Mapped[str] = mapped_column(sa.String(50))
    gender: Mapped[str] = mapped_column(sa.String(1))  # national code: 1 male, 2 female, 9 unknown
    birth_date: Mapped[date] = mapped_column(sa.Date)
    insutype: Mapped[str] = mapped_column(sa.String(3))  # 310 employee, 390 resident
    insu_admdvs: Mapped[str] = mapped_column(sa.String(6))  # insurance area code
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
