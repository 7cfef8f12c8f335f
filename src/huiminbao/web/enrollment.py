"""投保 pages: a resident checks eligibility and buys for the family on a phone; a counter clerk enrolls
someone (a veteran, a person without a phone) and the order is paid on the spot. Both end with the
policies and their e-policies. The rules, refusals and their Chinese reasons are the API's own."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import ValidationError

from huiminbao.access.errors import ApiError
from huiminbao.access.policies import SignedIn, check_csrf
from huiminbao.api.routes.enrollment import OrderIn, RenewalIn, epolicy_response, place
from huiminbao.api.routes.enrollment import cancel as api_cancel
from huiminbao.api.routes.enrollment import renewal_consent as api_renewal
from huiminbao.api.routes.payments import simulate_payment
from huiminbao.db import SessionDep
from huiminbao.enrollment.models import Channel, Relation
from huiminbao.enrollment.purchase import RELATION_NAMES, check_eligibility, orders_of
from huiminbao.identity.models import Role, User
from huiminbao.plans import Plan, compiled_plan, list_plans, messages
from huiminbao.web.templating import render

router = APIRouter(include_in_schema=False)
BuyerDep = Annotated[User, Depends(SignedIn(Role.RESIDENT, Role.CLERK, Role.ADMIN))]
BLANK_ROWS = 4
CHANNEL_NAMES = {
    Channel.ONLINE: "线上支付",
    Channel.PERSONAL_ACCOUNT: "医保个人账户",
    Channel.COUNTER: "柜台缴费",
}
STATUS_NAMES = {"pending_payment": "待缴费", "paid": "已缴费", "active": "有效", "suspended": "已暂停",
                "ended": "已终止", "cancelled": "已撤销", "refunded": "已退保"}  # fmt: skip


def _open_plans(request: Request) -> list[Plan]:
    """Plans whose cover has not ended yet: those selling today first, the one whose cover comes first."""
    day = request.app.state.settings.platform_date()

    def selling(p: Plan) -> bool:
        window = p.enrollment.window
        return (window.start is None or window.start <= day) and day <= window.end

    return sorted((p for p in list_plans() if p.cover_end >= day), key=lambda p: (not selling(p), p.cover_start, p.id))


def _page(
    request: Request, session: SessionDep, user: User, plan_id: str | None, status: int = 200, **extra: object
) -> Response:
    plans = _open_plans(request)
    plan = next((p for p in plans if p.id == plan_id), plans[0] if plans else None)
    counter = user.role != Role.RESIDENT
    mine = None
    if plan is not None and not counter and user.psn_no:
        mine = check_eligibility(
            session=session, compiled=compiled_plan(plan.id), psn_no=user.psn_no,
            day=request.app.state.settings.platform_date(),
        )  # fmt: skip
    channels = [Channel.COUNTER] if counter else [Channel.ONLINE, Channel.PERSONAL_ACCOUNT]
    context = {
        "plans": plans,
        "plan": plan,
        "counter": counter,
        "mine": mine,
        "orders": orders_of(session=session, psn_no=user.psn_no) if user.psn_no and not counter else [],
        "channels": [(c.value, CHANNEL_NAMES[c]) for c in channels],
        "relations": [(r.value, RELATION_NAMES[r]) for r in Relation],
        "statuses": STATUS_NAMES,
        "blank_rows": BLANK_ROWS,
        "simulator": request.app.state.settings.payment_simulator,
        "active": "投保",
    }
    return render(request, "enroll.html", context | extra, status_code=status)


@router.get("/enroll", response_class=HTMLResponse)
def enroll_page(request: Request, session: SessionDep, user: BuyerDep, plan: str | None = None) -> Response:
    return _page(request, session, user, plan)


@router.post("/enroll", response_class=HTMLResponse, dependencies=[Depends(check_csrf)])
def enroll(
    request: Request,
    session: SessionDep,
    user: BuyerDep,
    plan: Annotated[str, Form()] = "",
    payer: Annotated[str, Form()] = "",
    channel: Annotated[str, Form()] = "",
    tier: Annotated[str, Form()] = "",
    member_psn_no: Annotated[list[str] | None, Form()] = None,
    member_relation: Annotated[list[str] | None, Form()] = None,
    phone: Annotated[str, Form()] = "",
) -> Response:
    """Place the order from the form; a refusal comes back on the same page, naming the member."""
    rows = [(p.strip(), r) for p, r in zip(member_psn_no or [], member_relation or [], strict=False) if p.strip()]
    form = {"payer": payer, "channel": channel, "tier": tier, "rows": rows, "phone": phone}
    payer_no = user.psn_no or "" if user.role == Role.RESIDENT else payer.strip()
    try:
        order = OrderIn(
            plan=plan, tier=tier or None, payer=payer_no, channel=channel, phone=phone.strip() or None,
            members=[{"psn_no": p, "relation": r} for p, r in rows],
        )  # fmt: skip
    except ValidationError as exc:
        first = exc.errors()[0]
        where = messages.field_path(tuple(first["loc"]))
        message = "请至少填写一名被保险人" if where == "members" else f"请检查 {where}：{messages.error_message(first)}"
        return _page(request, session, user, plan, status=422, error=message, form=form)
    try:
        placed = place(request, session, user, order)
    except ApiError as exc:
        return _page(
            request, session, user, plan, status=exc.status, error=exc.message, error_field=exc.field, form=form
        )
    return _page(request, session, user, plan, placed=placed, done=f"订单 {placed['order']} 已提交")


@router.post("/pay/{order_no}", response_class=HTMLResponse, dependencies=[Depends(check_csrf)])
def pay(
    request: Request, session: SessionDep, user: BuyerDep, order_no: str, plan: Annotated[str, Form()] = ""
) -> Response:
    """The demo's payment: the simulated gateway pays the order through its signed callback."""
    try:
        done = simulate_payment(request, session, user, order_no, fail=False)
    except ApiError as exc:
        return _page(request, session, user, plan or None, status=exc.status, error=exc.message)
    return _page(request, session, user, plan or None, done=f"订单 {done['order']} 已支付，保单已生效")


@router.post("/policies/{policy_no}/cancel", response_class=HTMLResponse, dependencies=[Depends(check_csrf)])
def cancel_page(request: Request, session: SessionDep, user: BuyerDep, policy_no: str) -> Response:
    """退保 from the page: the plan's refund rule, with the reason either way."""
    try:
        done = api_cancel(request, session, policy_no, user)
    except ApiError as exc:
        return _page(request, session, user, None, status=exc.status, error=exc.message)
    return _page(request, session, user, None, done=f"保单 {policy_no} 已退保：{done['reason']}")


@router.post("/policies/{policy_no}/renewal", response_class=HTMLResponse, dependencies=[Depends(check_csrf)])
def renewal_page(
    request: Request, session: SessionDep, user: BuyerDep, policy_no: str, consent: Annotated[str, Form()] = ""
) -> Response:
    """The payer's consent to next year's renewal, or its withdrawal."""
    agree = consent == "1"
    try:
        api_renewal(request, session, policy_no, RenewalIn(consent=agree), user)
    except ApiError as exc:
        return _page(request, session, user, None, status=exc.status, error=exc.message)
    return _page(request, session, user, None, done=f"保单 {policy_no} {'已同意' if agree else '已取消'}下一年度续保")


@router.get("/policies/{policy_no}/epolicy.pdf")
def epolicy_download(request: Request, session: SessionDep, user: BuyerDep, policy_no: str) -> Response:
    return epolicy_response(request, session, user, policy_no)
