"""``/api/v1/actuarial``: de-identified record-level data for actuaries (``actuarial.extract``): no identity,
pseudonymous person keys, small cells generalised; each extract is in the audit log."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from huiminbao.access.errors import ApiError
from huiminbao.access.policies import Allow, actor_of
from huiminbao.actuarial.extract import MEDIA_TYPES, Export, Format, export
from huiminbao.api.errors import ERRORS
from huiminbao.db import SessionDep
from huiminbao.identity.models import Role, User
from huiminbao.plans import load_plan

router = APIRouter(prefix="/api/v1/actuarial", tags=["actuarial"])
ACTUARIES = (Role.ACTUARY, Role.ADMIN)
FILES = {200: {"content": {t: {} for t in MEDIA_TYPES.values()}, "description": "the extract as a file"}}


def checked_range(start: date | None, end: date | None) -> None:
    if start is not None and end is not None and start > end:
        raise ApiError(422, "bad_range", "开始日期不能晚于结束日期", "start")


def download(found: Export) -> Response:
    """The extract as an attachment, with what it holds in headers (for scripts that only count)."""
    headers = {
        "Content-Disposition": f'attachment; filename="{found.filename}"',
        "X-HMB-Rows": str(found.rows),
        "X-HMB-Persons": str(found.persons),
    }
    return Response(found.data, media_type=found.media_type, headers=headers)


@router.get("/settlements", responses={**FILES, **ERRORS}, response_class=Response)
def settlements(
    request: Request,
    session: SessionDep,
    user: Annotated[User, Depends(Allow(*ACTUARIES))],
    plan: Annotated[str, Query(min_length=1, max_length=64, description="plan id, e.g. liaocheng-2024")],
    start: Annotated[date | None, Query(description="first settlement day (setl_time), included")] = None,
    end: Annotated[date | None, Query(description="last settlement day, included")] = None,
    format: Annotated[Format, Query(description="csv or json (yuan), parquet (int64 *_fen)")] = Format.CSV,
    lines: Annotated[bool, Query(description="one row per settlement and liability instead of per settlement")] = False,
) -> Response:
    """The plan's settlements without identities, one row each with the payout per liability (or one row
    per liability line): pseudonymous person and claim keys stable across extracts of the plan, 5-year age
    bands, the insurance area cut to the city, hospital level, dates to the day; every combination of age
    band, sex, area and insurance type holds at least 10 persons or is generalised. Audited."""
    checked_range(start, end)
    found = export(
        session=session, actor=actor_of(request, user), plan=load_plan(plan),
        key=request.app.state.settings.actuarial_key_bytes, fmt=format, start=start, end=end, lines=lines,
    )  # fmt: skip
    session.commit()
    return download(found)
