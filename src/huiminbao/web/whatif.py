"""试算定价: an actuary pastes or uploads a candidate plan, picks the base plan, tier and target loss ratio,
and sees the candidate priced on the base plan's stored year beside it (``supervision.whatif``). The same
checks and figures as ``POST /api/v1/whatif``; the year stays in memory between requests."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Request, Response, UploadFile
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from huiminbao.access.errors import ApiError
from huiminbao.access.policies import SignedIn, check_csrf
from huiminbao.actuarial.extract import settled_plans
from huiminbao.api.routes.whatif import CANDIDATE_NAME, MAX_PLAN_BYTES, price, text
from huiminbao.db import SessionDep
from huiminbao.identity.models import Role, User
from huiminbao.plans import list_plans
from huiminbao.supervision.whatif import Comparison, decile_rows, rows
from huiminbao.web.templating import render

router = APIRouter(prefix="/supervision", include_in_schema=False)
ActuaryDep = Annotated[User, Depends(SignedIn(Role.ACTUARY, Role.ADMIN))]


def _page(request: Request, settled: set[str], form: dict[str, str], **extra: object) -> Response:
    plans = sorted(list_plans(), key=lambda p: (p.id not in settled, -p.year, p.id))  # with settlements first
    result = extra.get("result")
    if isinstance(result, Comparison):
        extra |= {"rows": rows(result), "deciles": decile_rows(result)}
    context = {"plans": plans, "settled": settled, "form": form, "active": "精算", "tab": "whatif"} | extra
    return render(request, "supervision_whatif.html", context, status_code=422 if "error" in extra else 200)


@router.get("/whatif", response_class=HTMLResponse)
def whatif_page(request: Request, session: SessionDep, _user: ActuaryDep) -> Response:
    """The empty form: the base plan defaults to the newest with stored settlements."""
    return _page(request, settled_plans(session=session), {"target_loss_ratio": ""})


@router.post("/whatif", response_class=HTMLResponse, dependencies=[Depends(check_csrf)])
async def whatif_run(
    request: Request,
    session: SessionDep,
    _user: ActuaryDep,
    base: Annotated[str, Form()] = "",
    tier: Annotated[str, Form()] = "",
    target_loss_ratio: Annotated[str, Form()] = "",
    candidate: Annotated[str, Form()] = "",
    candidate_file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    """Price the pasted (or uploaded: the file wins) candidate; a refusal comes back on the form, in Chinese."""
    form = {"base": base, "tier": tier, "target_loss_ratio": target_loss_ratio, "candidate": candidate}
    settled = await run_in_threadpool(settled_plans, session=session)
    try:
        name = CANDIDATE_NAME
        if candidate_file is not None and candidate_file.filename:
            name = candidate_file.filename
            form["candidate"] = text(await candidate_file.read(MAX_PLAN_BYTES + 1))
        result = await run_in_threadpool(price, session, form, name)
    except ApiError as exc:
        return _page(request, settled, form, error=exc.message, field=exc.field)
    return _page(request, settled, form, result=result)
