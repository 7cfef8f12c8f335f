"""团单: a clerk, for an employer or a charity, uploads a list, checks the quote line by line, and buys."""

from __future__ import annotations

from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Depends, File, Form, Request, Response, UploadFile
from fastapi.responses import HTMLResponse

from huiminbao.access.errors import ApiError
from huiminbao.access.policies import SignedIn, actor_of, check_csrf
from huiminbao.api.routes.enrollment import plan_or_404
from huiminbao.db import SessionDep
from huiminbao.enrollment.group import GroupError, buy_group, quote, read_list
from huiminbao.enrollment.models import Channel, CharityFund
from huiminbao.enrollment.purchase import order_view
from huiminbao.identity.models import Role, User
from huiminbao.plans import list_plans
from huiminbao.web.templating import render

router = APIRouter(prefix="/groups", include_in_schema=False)
ClerkDep = Annotated[User, Depends(SignedIn(Role.CLERK, Role.ADMIN))]


def _page(request: Request, session: SessionDep, status: int = 200, **extra: object) -> Response:
    day = request.app.state.settings.platform_date()
    plans = sorted(
        (p for p in list_plans() if p.cover_end >= day and p.enrollment.group_policies), key=lambda p: p.cover_start
    )
    funds = session.scalars(sa.select(CharityFund).where(CharityFund.balance_fen > 0).order_by(CharityFund.id)).all()
    context = {"plans": plans, "funds": funds, "active": "投保"}
    return render(request, "groups.html", context | extra, status_code=status)


@router.get("", response_class=HTMLResponse)
def groups_page(request: Request, session: SessionDep, _user: ClerkDep) -> Response:
    return _page(request, session)


@router.post("", response_class=HTMLResponse, dependencies=[Depends(check_csrf)])
def group_action(
    request: Request,
    session: SessionDep,
    user: ClerkDep,
    file: Annotated[UploadFile, File()],
    plan: Annotated[str, Form()] = "",
    payer_name: Annotated[str, Form()] = "",
    fund_id: Annotated[str, Form()] = "",
    action: Annotated[str, Form()] = "quote",
) -> Response:
    """``quote``: who on the list can be insured and who cannot; ``buy``: one paid order for the former."""
    settings = request.app.state.settings
    form = {"plan": plan, "payer_name": payer_name, "fund_id": fund_id}
    fund = int(fund_id) if fund_id.strip().isdigit() else None
    try:
        compiled = plan_or_404(plan)
        lines = read_list(file.filename or "list.csv", file.file.read())
        if action == "buy":
            if not payer_name.strip():
                return _page(request, session, status=422, error="请填写投保单位或慈善机构名称", form=form)
            order, q = buy_group(
                session=session, actor=actor_of(request, user), compiled=compiled, lines=lines,
                hash_key=settings.pii_hash_key_bytes, day=settings.platform_date(), payer_name=payer_name, fund_id=fund,
            )  # fmt: skip
            placed = order_view(session=session, order=order) if order else None
            session.commit()
            return _page(request, session, quote=q.view(), placed=placed, form=form, done="已投保" if placed else None)
        channel = Channel.CHARITY if fund is not None else Channel.GROUP
        q = quote(
            session=session, compiled=compiled, lines=lines, hash_key=settings.pii_hash_key_bytes,
            day=settings.platform_date(), channel=channel,
        )  # fmt: skip
        return _page(request, session, quote=q.view(), form=form)
    except GroupError as exc:
        session.rollback()
        return _page(request, session, status=422, error=exc.message, form=form)
    except ApiError as exc:
        return _page(request, session, status=exc.status, error=exc.message, form=form)
