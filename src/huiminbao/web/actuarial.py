"""精算: an actuary chooses a plan and a range of settlement days, sees what the extract holds, and downloads
it de-identified (``actuarial.extract``: no identity, pseudonymous keys, small cells generalised)."""

from __future__ import annotations

from datetime import date
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import HTMLResponse

from huiminbao.access.errors import ApiError
from huiminbao.access.policies import SignedIn, actor_of
from huiminbao.actuarial.extract import Format, export, settled_plans, summary
from huiminbao.api.routes.actuarial import checked_range, download
from huiminbao.db import SessionDep
from huiminbao.enrollment.service import MIN_CELL
from huiminbao.identity.models import Role, User
from huiminbao.plans import PlanNotFound, list_plans, load_plan
from huiminbao.web.routes import not_found_page
from huiminbao.web.templating import render

router = APIRouter(prefix="/actuarial", include_in_schema=False)
ActuaryDep = Annotated[User, Depends(SignedIn(Role.ACTUARY, Role.ADMIN))]
FORMATS = {Format.CSV: "CSV", Format.PARQUET: "Parquet", Format.JSON: "JSON"}


def _day(text: str, field: str) -> date | None:
    """A day from the page's date input (YYYY-MM-DD); empty: none."""
    try:
        return date.fromisoformat(text.strip()) if text.strip() else None
    except ValueError:
        raise ApiError(422, "bad_date", "日期格式应为 YYYY-MM-DD", field) from None


@router.get("", response_class=HTMLResponse)
def extract_page(
    request: Request, session: SessionDep, _user: ActuaryDep, plan: str = "", start: str = "", end: str = ""
) -> Response:
    """The plan (by default the newest with settlements) and the days chosen, what the extract holds (settlements, refunds, lines, persons, payout)
    and a link per format; nothing is extracted until a link is followed."""
    settled = settled_plans(session=session)
    plans = sorted(list_plans(), key=lambda p: (p.id not in settled, -p.year, p.id))  # with settlements first
    try:
        chosen = load_plan(plan) if plan else plans[0]
    except PlanNotFound:
        return not_found_page(request, f"方案 {plan}")
    error, counts, links = None, None, {}
    try:
        first, last = _day(start, "start"), _day(end, "end")
        checked_range(first, last)
    except ApiError as exc:
        error = exc.message
    else:
        counts = summary(session=session, plan_id=chosen.id, start=first, end=last)
        query = {"plan": chosen.id, "start": start.strip(), "end": end.strip()}
        for fmt, label in FORMATS.items():
            for lines in (False, True):
                q = {k: v for k, v in {**query, "format": fmt.value, "lines": "1" if lines else ""}.items() if v}
                links[(label, lines)] = "/actuarial/extract?" + urlencode(q)
    context = {
        "plans": plans,
        "plan": chosen,
        "start": start.strip(),
        "end": end.strip(),
        "error": error,
        "counts": counts,
        "links": links,
        "k": MIN_CELL,
        "active": "精算",
    }
    return render(request, "actuarial.html", context, status_code=422 if error else 200)


@router.get("/extract")
def extract_file(
    request: Request,
    session: SessionDep,
    user: ActuaryDep,
    plan: str = "",
    start: str = "",
    end: str = "",
    format: str = "csv",
    lines: str = "",
) -> Response:
    """The extract as a file, audited like the API's."""
    if not plan:
        raise ApiError(422, "missing_plan", "请选择方案", "plan")
    if format not in {f.value for f in Format}:
        raise ApiError(422, "bad_format", "格式应为 csv、json 或 parquet", "format")
    first, last = _day(start, "start"), _day(end, "end")
    checked_range(first, last)
    found = export(
        session=session, actor=actor_of(request, user), plan=load_plan(plan),
        key=request.app.state.settings.actuarial_key_bytes, fmt=Format(format), start=first, end=last,
        lines=bool(lines),
    )  # fmt: skip
    session.commit()
    return download(found)
