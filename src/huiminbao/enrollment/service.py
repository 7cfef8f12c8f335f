"""Looking up insured persons as each role may: a resident their own record, staff any record with the ID
number masked, and in clear only when they ask for it (each such view audited); the bureau's supervisors
aggregates only, with cells of fewer than ``MIN_CELL`` persons suppressed.

Functions take a keyword-only session and never commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from huiminbao.enrollment.models import InsuredPerson
from huiminbao.identity import audit
from huiminbao.identity.certno import mask_certno
from huiminbao.identity.pii import decrypt_certno, decrypt_text

MIN_CELL = 10  # an aggregate cell of fewer persons could identify them: suppressed for supervisors


class PersonNotFound(LookupError):
    """No insured person with this number (in the roster)."""


def get_person_or_raise(*, session: Session, psn_no: str) -> InsuredPerson:
    person = session.scalars(sa.select(InsuredPerson).where(InsuredPerson.psn_no == psn_no)).one_or_none()
    if person is None:
        raise PersonNotFound(psn_no)
    return person


def person_view(person: InsuredPerson, keys: Sequence[bytes], *, reveal: bool = False) -> dict[str, Any]:
    """A person as a page or the API shows them: the ID number masked (first 6, last 4) and the name masked
    (surname only) unless revealed."""
    certno = decrypt_certno(person.certno_enc, keys)
    name = decrypt_text(person.name_enc, keys) if reveal and person.name_enc is not None else person.name_masked
    return {
        "psn_no": person.psn_no,
        "certno": certno if reveal else mask_certno(certno),
        "name": name,
        "gender": person.gender,
        "birth_date": person.birth_date.isoformat(),
        "insutype": person.insutype,
        "insu_admdvs": person.insu_admdvs,
    }


def reveal_person(*, session: Session, actor: audit.Actor, psn_no: str, keys: Sequence[bytes]) -> dict[str, Any]:
    """A person with the ID number and name in clear, for staff whose work needs it; the view is audited."""
    person = get_person_or_raise(session=session, psn_no=psn_no)
    audit.record(session=session, actor=actor, action="person.reveal_certno", entity="person", entity_id=psn_no)
    return person_view(person, keys, reveal=True)


def insured_by_area_and_type(*, session: Session) -> list[dict[str, Any]]:
    """Insured persons by insurance area and type; a cell of fewer than ``MIN_CELL`` persons has its count
    suppressed (null, ``suppressed`` true), so no aggregate points at a few people."""
    rows = session.execute(
        sa.select(InsuredPerson.insu_admdvs, InsuredPerson.insutype, sa.func.count())
        .group_by(InsuredPerson.insu_admdvs, InsuredPerson.insutype)
        .order_by(InsuredPerson.insu_admdvs, InsuredPerson.insutype)
    ).all()
    return [
        {"insu_admdvs": area, "insutype": kind, "persons": n if n >= MIN_CELL else None, "suppressed": n < MIN_CELL}
        for area, kind, n in rows
    ]
