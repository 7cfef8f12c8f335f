"""Group and charity purchases (团单): ``/api/v1/groups`` quotes and orders from an uploaded list, and
``/api/v1/charity/funds``, the money a charity gave for premiums. Counter clerks act for employers and
charities; administrators and insurer finance manage funds."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Path, Request, UploadFile
from pydantic import BaseModel, Field

from huiminbao.access.errors import ApiError
from huiminbao.access.policies import Allow, actor_of
from huiminbao.access.scope import check_plan
from huiminbao.api.errors import ERRORS
from huiminbao.api.routes.enrollment import plan_or_404
from huiminbao.db import SessionDep
from huiminbao.db.columns import MAX_ROW_ID
from huiminbao.enrollment.group import GroupError, buy_group, create_fund, quote, read_list
from huiminbao.enrollment.models import Channel, CharityFund
from huiminbao.enrollment.purchase import order_view
from huiminbao.identity.models import Role, User
from huiminbao.money import to_fen, to_yuan

router = APIRouter(prefix="/api/v1", tags=["groups"])
CLERKS = Allow(Role.CLERK, Role.ADMIN)
FUNDS = Allow(Role.ADMIN, Role.FINANCE)


class FundIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    plan: str = Field(min_length=1, max_length=64)
    amount: str = Field(pattern=r"^\d{1,11}(\.\d{1,2})?$", description="捐赠金额（元）")


class FundOut(BaseModel):
    id: int
    name: str
    plan: str
    donated: str
    balance: str


def _fund(f: CharityFund) -> dict:
    return {
        "id": f.id,
        "name": f.name,
        "plan": f.plan_id,
        "donated": to_yuan(f.donated_fen),
        "balance": to_yuan(f.balance_fen),
    }


def _refused(exc: GroupError) -> ApiError:
    return ApiError(404 if exc.code == "fund_not_found" else 422, exc.code, exc.message, "file")


@router.post("/groups/quote", responses=ERRORS)
def group_quote(
    request: Request,
    session: SessionDep,
    _user: Annotated[User, Depends(CLERKS)],
    file: Annotated[UploadFile, File()],
    plan: Annotated[str, Form(min_length=1, max_length=64)],
    tier: Annotated[str | None, Form(max_length=64)] = None,
    charity: Annotated[bool, Form()] = False,
) -> dict:
    """Who on the list can be insured, at what premium, and who cannot and why (line by line)."""
    settings = request.app.state.settings
    try:
        lines = read_list(file.filename or "list.csv", file.file.read())
        q = quote(
            session=session, compiled=plan_or_404(plan), lines=lines, hash_key=settings.pii_hash_key_bytes,
            day=settings.platform_date(), channel=Channel.CHARITY if charity else Channel.GROUP, tier=tier,
        )  # fmt: skip
    except GroupError as exc:
        raise _refused(exc) from None
    return q.view()


@router.post("/groups/orders", status_code=201, responses=ERRORS)
def group_order(
    request: Request,
    session: SessionDep,
    user: Annotated[User, Depends(CLERKS)],
    file: Annotated[UploadFile, File()],
    plan: Annotated[str, Form(min_length=1, max_length=64)],
    payer_name: Annotated[str, Form(min_length=1, max_length=100)],
    tier: Annotated[str | None, Form(max_length=64)] = None,
    fund_id: Annotated[int | None, Form()] = None,
) -> dict:
    """Buy for everyone on the list who can be insured, in one paid order (a charity fund pays as far as
    its balance goes); the rest are listed with their reasons."""
    settings = request.app.state.settings
    try:
        lines = read_list(file.filename or "list.csv", file.file.read())
        order, q = buy_group(
            session=session, actor=actor_of(request, user), compiled=plan_or_404(plan), lines=lines,
            hash_key=settings.pii_hash_key_bytes, day=settings.platform_date(), payer_name=payer_name, tier=tier,
            fund_id=fund_id,
        )  # fmt: skip
        view = order_view(session=session, order=order) if order else None
    except GroupError as exc:
        session.rollback()
        raise _refused(exc) from None
    session.commit()
    return {"order": view, **q.view()}


@router.post("/charity/funds", response_model=FundOut, status_code=201, responses=ERRORS)
def new_fund(request: Request, session: SessionDep, body: FundIn, user: Annotated[User, Depends(FUNDS)]) -> dict:
    """Record a charity's donation for premiums (Liaocheng 2024: 100,000 yuan for people in hardship);
    finance records them for its own consortium's plans only."""
    plan_or_404(body.plan)
    check_plan(user, body.plan)
    try:
        fund = create_fund(
            session=session,
            actor=actor_of(request, user),
            name=body.name,
            plan_id=body.plan,
            amount_fen=to_fen(body.amount),
        )
    except GroupError as exc:
        raise ApiError(422, exc.code, exc.message, "amount") from None
    session.commit()
    return _fund(fund)


@router.get("/charity/funds/{fund_id}", response_model=FundOut, responses=ERRORS)
def get_fund(
    fund_id: Annotated[int, Path(ge=1, le=MAX_ROW_ID)],
    session: SessionDep,
    user: Annotated[User, Depends(Allow(Role.ADMIN, Role.FINANCE, Role.CLERK))],
) -> dict:
    """A fund's donation and what is left of it (for finance, a fund of its own consortium's plans)."""
    fund = session.get(CharityFund, fund_id)
    if fund is None:
        raise ApiError(404, "fund_not_found", f"没有慈善资金 {fund_id}", "fund_id")
    check_plan(user, fund.plan_id, "fund_id")
    return _fund(fund)
