"""Looking up insured persons as each role may: a resident their own record, staff any record with the ID
number, name and phone masked, and in clear only when they ask for it (each such view audited); the
bureau's supervisors aggregates only, with cells of fewer than ``MIN_CELL`` persons suppressed. A payer's
contact phone, given with an order, is kept the same way.

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
from huiminbao.identity.phone import mask_phone
from huiminbao.identity.pii import decrypt_certno, decrypt_text, encrypt_text

MIN_CELL = 10  # an aggregate cell of fewer persons could identify them: suppressed for supervisors


class PersonNotFound(LookupError):
    """No insured person with this number (in the roster)."""


def get_person_or_raise(*, session: Session, psn_no: str) -> InsuredPerson:
    person = session.scalars(sa.select(InsuredPerson).where(InsuredPerson.psn_no == psn_no)).one_or_none()
    if person is None:
        raise PersonNotFound(psn_no)
    return person


def person_view(person: InsuredPerson, keys: Sequence[bytes], *, reveal: bool = False) -> dict[str, Any]:
    """A person as a page or the API shows them: the ID number masked (first 6, last 4), the name masked
    (surname only) and the mobile phone masked (first 3, last 4; None when not known) unless revealed."""
    certno = decrypt_certno(person.certno_enc, keys)
    name = decrypt_text(person.name_enc, keys) if reveal and person.name_enc is not None else person.name_masked
    phone = decrypt_text(person.phone_enc, keys) if reveal and person.phone_enc is not None else person.phone_masked
    return {
        "psn_no": person.psn_no,
        "certno": certno if reveal else mask_certno(certno),
        "name": name,
        "phone": phone,
        "gender": person.gender,
        "birth_date": person.birth_date.isoformat(),
        "insutype": person.insutype,
        "insu_admdvs": person.insu_admdvs,
    }


def reveal_person(*, session: Session, actor: audit.Actor, psn_no: str, keys: Sequence[bytes]) -> dict[str, Any]:
    """A person with the ID number, name and phone in clear, for staff whose work needs it; the view is
    audited, naming the fields shown (not their values). The action keeps its first name, which said only
    the ID number, so that searches of the log find every clear view."""
    person = get_person_or_raise(session=session, psn_no=psn_no)
    held = {"certno": person.certno_enc, "name": person.name_enc, "phone": person.phone_enc}
    shown = [field for field, blob in held.items() if blob is not None]
    audit.record(
        session=session,
        actor=actor,
        action="person.reveal_certno",
        entity="person",
        entity_id=psn_no,
        after={"shown": shown},
    )
    return person_view(person, keys, reveal=True)


def set_phone(
    *, session: Session, actor: audit.Actor, person: InsuredPerson, phone: str, keys: Sequence[bytes]
) -> None:
    """Keep a person's mobile phone (a valid, normalised number): SM4 under the current key (``keys[0]``)
    and masked; audited with the masked numbers before and after. The same number again changes nothing."""
    masked = mask_phone(phone)
    if person.phone_masked == masked and person.phone_enc and decrypt_text(person.phone_enc, keys) == phone:
        return
    before = {"phone": person.phone_masked}
    person.phone_enc = encrypt_text(phone, keys[0])
    person.phone_masked = masked
    audit.record(
        session=session,
        actor=actor,
        action="person.set_phone",
        entity="person",
        entity_id=person.psn_no,
        before=before,
        after={"phone": masked},
    )


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
