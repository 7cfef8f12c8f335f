"""``/api/v1/roster/imports``: the bureau's roster uploaded by an administrator, and each import's
rejection report (line, psn_no, field, reason; never an ID number or a name)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, File, Request, UploadFile
from fastapi import Path as UrlPath
from fastapi.responses import Response
from pydantic import BaseModel

from huiminbao.access.errors import ApiError
from huiminbao.access.policies import Allow, actor_of
from huiminbao.api.errors import ERRORS
from huiminbao.db import SessionDep
from huiminbao.db.columns import MAX_ROW_ID
from huiminbao.enrollment.models import RosterImport
from huiminbao.enrollment.roster import RosterError
from huiminbao.enrollment.roster_store import Keys, import_roster
from huiminbao.identity.models import Role, User

router = APIRouter(prefix="/api/v1/roster", tags=["roster"])
ADMIN = Allow(Role.ADMIN)


class ImportOut(BaseModel):
    import_id: int
    rows: int
    inserted: int
    updated: int
    unchanged: int
    rejected: int
    policies_changed: int
    report: str  # where to fetch the rejected rows as CSV


def _out(record: RosterImport) -> dict:
    return {
        "import_id": record.id,
        "rows": record.rows,
        "inserted": record.inserted,
        "updated": record.updated,
        "unchanged": record.unchanged,
        "rejected": record.rejected,
        "policies_changed": record.policies_changed,
        "report": f"/api/v1/roster/imports/{record.id}/report",
    }


def run_import(request: Request, session: SessionDep, user: User, name: str, data: bytes) -> RosterImport:
    """Import an uploaded roster in the request's transaction (the admin page shares it)."""
    settings = request.app.state.settings
    keys = Keys(encrypt=settings.pii_key_bytes, hash=settings.pii_hash_key_bytes)
    try:
        result = import_roster(
            session=session, path=Path(name or "roster.csv"), data=data, keys=keys,
            actor=actor_of(request, user), today=settings.platform_date(),
        )  # fmt: skip
    except RosterError as exc:
        session.rollback()
        raise ApiError(422, "roster_unreadable", str(exc), "file") from None
    session.commit()
    record = session.get(RosterImport, result.id)
    assert record is not None
    return record


@router.post("/imports", response_model=ImportOut, status_code=201, responses=ERRORS)
def upload(
    request: Request, session: SessionDep, user: Annotated[User, Depends(ADMIN)], file: Annotated[UploadFile, File()]
) -> dict:
    """Import the bureau's roster (CSV or .xlsx): new people inserted, changed ones updated by psn_no,
    each bad row reported; policies follow changes of basic-insurance status."""
    return _out(run_import(request, session, user, file.filename or "roster.csv", file.file.read()))


def report_response(session: SessionDep, import_id: int) -> Response:
    """One import's rejected rows as a CSV download (UTF-8 with BOM, for Excel); the admin page shares it."""
    record = session.get(RosterImport, import_id)
    if record is None:
        raise ApiError(404, "import_not_found", f"没有名册导入记录 {import_id}", "import_id")
    return Response(
        record.report_csv.encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="roster-import-{import_id}-rejected.csv"'},
    )


@router.get("/imports/{import_id}/report", responses=ERRORS)
def report(
    import_id: Annotated[int, UrlPath(ge=1, le=MAX_ROW_ID)], session: SessionDep, _user: Annotated[User, Depends(ADMIN)]
) -> Response:
    """The rejected rows of one import as CSV (line, psn_no, field, reason)."""
    return report_response(session, import_id)
