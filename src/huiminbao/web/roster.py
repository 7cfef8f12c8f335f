"""The administrator's roster page: upload the bureau's roster, see what it did, download the rejections."""

from __future__ import annotations

import csv
import io
from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Depends, File, Request, Response, UploadFile
from fastapi.responses import HTMLResponse

from huiminbao.access.errors import ApiError
from huiminbao.access.policies import SignedIn, check_csrf
from huiminbao.api.routes.roster import report_response, run_import
from huiminbao.db import SessionDep
from huiminbao.enrollment.models import RosterImport
from huiminbao.identity.models import Role, User
from huiminbao.web.templating import render

router = APIRouter(prefix="/admin/roster", include_in_schema=False)
AdminDep = Annotated[User, Depends(SignedIn(Role.ADMIN))]
SHOWN_REJECTS = 50


def _page(request: Request, session: SessionDep, status: int = 200, **extra: object) -> Response:
    imports = session.scalars(sa.select(RosterImport).order_by(RosterImport.id.desc()).limit(20)).all()
    context = {"imports": imports, "active": "管理", "tab": "roster"}
    return render(request, "admin_roster.html", context | extra, status_code=status)


@router.get("", response_class=HTMLResponse)
def roster_page(request: Request, session: SessionDep, _admin: AdminDep) -> Response:
    return _page(request, session)


@router.post("", response_class=HTMLResponse, dependencies=[Depends(check_csrf)])
def upload_roster(
    request: Request, session: SessionDep, admin: AdminDep, file: Annotated[UploadFile, File()]
) -> Response:
    try:
        record = run_import(request, session, admin, file.filename or "roster.csv", file.file.read())
    except ApiError as exc:
        return _page(request, session, status=422, error=exc.message)
    rows = list(csv.DictReader(io.StringIO(record.report_csv.lstrip("\ufeff"))))[:SHOWN_REJECTS]
    done = f"已导入 {record.file_name}"
    return _page(request, session, result=record, rejects=rows, done=done)


@router.get("/{import_id}/report.csv")
def report(import_id: int, session: SessionDep, _admin: AdminDep) -> Response:
    return report_response(session, import_id)
