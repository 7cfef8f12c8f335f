"""``/api/v1/persons``: insured persons as each role may see them, and the supervisors' aggregate.

A resident reads only their own record (``/me``); counter, claims and admin staff read any record with
the ID number, name and mobile phone masked, and ``?reveal=true`` shows them in clear for work that needs
it, each such view in the audit log; supervisors and actuaries get counts by area and insurance type with small cells suppressed.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel

from huiminbao.access.errors import ApiError
from huiminbao.access.policies import Allow
from huiminbao.api.errors import ERRORS
from huiminbao.db import SessionDep
from huiminbao.enrollment.service import (
    PersonNotFound,
    get_person_or_raise,
    insured_by_area_and_type,
    person_view,
    reveal_person,
)
from huiminbao.identity import audit
from huiminbao.identity.models import Role, User

router = APIRouter(prefix="/api/v1", tags=["persons"])


class Person(BaseModel):
    psn_no: str
    certno: str  # masked (first 6, last 4) unless revealed
    name: str  # masked (surname only) unless revealed
    phone: str | None  # mobile, masked (138****1234) unless revealed; null when not known
    gender: str
    birth_date: str
    insutype: str
    insu_admdvs: str


class Cell(BaseModel):
    insu_admdvs: str
    insutype: str
    persons: int | None  # null when suppressed
    suppressed: bool


def _not_found(psn_no: str) -> ApiError:
    return ApiError(404, "person_not_found", f"参保人名单中没有人员编号 {psn_no}", "psn_no")


@router.get("/persons/me", response_model=Person, responses=ERRORS)
def my_record(request: Request, session: SessionDep, user: Annotated[User, Depends(Allow(Role.RESIDENT))]) -> dict:
    """The signed-in resident's own record in the bureau's roster."""
    psn_no = user.psn_no or ""
    try:
        person = get_person_or_raise(session=session, psn_no=psn_no)
    except PersonNotFound as exc:
        raise _not_found(psn_no) from exc
    return person_view(person, request.app.state.settings.pii_keys)


@router.get("/persons/{psn_no}", response_model=Person, responses=ERRORS)
def person(
    request: Request,
    session: SessionDep,
    psn_no: str,
    user: Annotated[User, Depends(Allow(Role.CLERK, Role.ADJUSTER, Role.ADMIN))],
    reveal: Annotated[bool, Query(description="show the ID number, name and phone in clear (audited)")] = False,
) -> dict:
    """A person's record for staff; ID number, name and phone are masked unless ``reveal``, which is audited."""
    keys = request.app.state.settings.pii_keys
    try:
        if reveal:
            actor = audit.Actor(user.username, user.role.value, request.client.host if request.client else None)
            shown = reveal_person(session=session, actor=actor, psn_no=psn_no, keys=keys)
            session.commit()
            return shown
        return person_view(get_person_or_raise(session=session, psn_no=psn_no), keys)
    except PersonNotFound as exc:
        raise _not_found(psn_no) from exc


@router.get("/supervision/insured", response_model=list[Cell], responses=ERRORS)
def insured_cells(
    session: SessionDep, _user: Annotated[User, Depends(Allow(Role.SUPERVISOR, Role.ACTUARY, Role.ADMIN))]
) -> list[dict]:
    """Insured persons by area and insurance type; cells under 10 persons suppressed."""
    return insured_by_area_and_type(session=session)
