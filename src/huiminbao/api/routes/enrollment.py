"""Eligibility and purchase: ``GET /api/v1/eligibility``, ``POST /api/v1/policies``, a person's policies.

Residents check and buy for themselves and their family (the payer is the signed-in resident); counter
clerks enroll anyone at the counter, paid on the spot; administrators may do both. An order paid online
or from the personal account waits for payment; a counter order is paid at once. A refusal is a 422 with
the contract's code and ``field`` naming the member (``members[2].psn_no``); nothing is bought. The payer
may give a mobile phone for notifications (optional): kept on their roster record, encrypted and masked.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from huiminbao.access.errors import ApiError
from huiminbao.access.policies import Allow, Public, actor_of
from huiminbao.api.errors import ERRORS
from huiminbao.db import SessionDep
from huiminbao.enrollment.epolicy import EPolicyError, render
from huiminbao.enrollment.lifecycle import CancelRefused, set_renewal
from huiminbao.enrollment.models import Channel, InsuredPerson, PolicyOrder, Relation
from huiminbao.enrollment.newborn import cover_newborn
from huiminbao.enrollment.policies import PolicyNotFound, epolicy, get_policy_or_raise, resident_may_see, verify
from huiminbao.enrollment.purchase import Member, PurchaseRefused, buy, check_eligibility, order_view, orders_of
from huiminbao.enrollment.service import set_phone
from huiminbao.flows.policies import cancel_policy
from huiminbao.identity.models import Role, User
from huiminbao.identity.phone import INVALID as INVALID_PHONE
from huiminbao.identity.phone import is_mobile, normalise_phone
from huiminbao.money import to_yuan
from huiminbao.plans import Compiled, PlanNotFound, compiled_plan

router = APIRouter(prefix="/api/v1", tags=["enrollment"])
BUYERS = (Role.RESIDENT, Role.CLERK, Role.ADMIN)
RESIDENT_CHANNELS = (Channel.ONLINE, Channel.PERSONAL_ACCOUNT)


class Eligibility(BaseModel):
    eligible: bool
    code: str | None = Field(description="拒绝原因代码（eligible 为 false 时）")
    reason: str = Field(description="可否投保及原因（中文）")
    tier: str | None
    tier_name: str | None
    premium: str | None = Field(description="保费（元）")
    cover_start: str | None
    cover_end: str | None
    rule: str | None = Field(description="依据：投保期或例外规则")


class OrderMember(BaseModel):
    psn_no: str = Field(min_length=1, max_length=40)
    relation: Relation


class OrderIn(BaseModel):
    plan: str = Field(min_length=1, max_length=64)
    tier: str | None = Field(None, max_length=64)
    payer: str = Field(min_length=1, max_length=40, description="付款人人员编号")
    members: list[OrderMember] = Field(min_length=1, max_length=20)
    channel: Channel
    phone: str | None = Field(
        None, max_length=20, description="付款人手机号（选填，11 位；用于理赔等通知，加密保存、脱敏显示）"
    )


class PolicyOut(BaseModel):
    policy_no: str
    psn_no: str
    relation: str
    tier: str
    premium: str
    status: str
    cover_start: str
    cover_end: str
    renew: bool = Field(description="投保人已同意下一年度续保")


class OrderOut(BaseModel):
    order: str
    status: str
    channel: str
    total: str
    policies: list[PolicyOut]


def plan_or_404(plan_id: str, field: str = "plan") -> Compiled:
    try:
        return compiled_plan(plan_id)
    except PlanNotFound:
        raise ApiError(404, "plan_not_found", f"没有计划 {plan_id}", field) from None


@router.get("/eligibility", response_model=Eligibility, responses=ERRORS)
def eligibility(
    request: Request,
    session: SessionDep,
    _user: Annotated[User, Depends(Allow(*BUYERS))],
    plan: Annotated[str, Query(min_length=1, max_length=64)],
    psn_no: Annotated[str, Query(min_length=1, max_length=40)],
    channel: Channel | None = None,
    tier: Annotated[str | None, Query(max_length=64)] = None,
) -> dict:
    """Whether this person may buy the plan today (through ``channel``), and why, in Chinese: tier,
    premium and cover period when yes; the rule that stops it when no. Says nothing personal."""
    compiled = plan_or_404(plan)
    day = request.app.state.settings.platform_date()
    decision = check_eligibility(session=session, compiled=compiled, psn_no=psn_no, day=day, channel=channel, tier=tier)
    return decision.as_dict()


@router.post("/policies", response_model=OrderOut, status_code=201, responses=ERRORS)
def place_order(
    request: Request, session: SessionDep, order: OrderIn, user: Annotated[User, Depends(Allow(*BUYERS))]
) -> dict:
    """Buy for the members in one order, all or nothing. A resident pays for self and family (``online``
    or ``personal_account``; the order waits for payment); a clerk's ``counter`` order is paid at once."""
    return place(request, session, user, order)


def place(request: Request, session: SessionDep, user: User, order: OrderIn) -> dict:
    """Place and commit an order for this user, or raise the refusal as an ``ApiError`` (the web page's
    form shares it)."""
    if user.role == Role.RESIDENT:
        if order.payer != user.psn_no:
            raise ApiError(403, "payer_not_self", "居民只能以本人为付款人下单", "payer")
        if order.channel not in RESIDENT_CHANNELS:
            raise ApiError(422, "channel_not_allowed", "居民线上投保只能选择线上支付或医保个人账户", "channel")
    compiled = plan_or_404(order.plan)
    paid = order.channel == Channel.COUNTER
    phone = normalise_phone(order.phone or "")
    if phone and not is_mobile(phone):
        raise ApiError(422, "invalid_phone", INVALID_PHONE, "phone")
    try:
        placed = buy(
            session=session, actor=actor_of(request, user), compiled=compiled, payer_psn_no=order.payer,
            members=[Member(m.psn_no, m.relation) for m in order.members], channel=order.channel,
            day=request.app.state.settings.platform_date(), tier=order.tier, paid=paid,
        )  # fmt: skip
        view = order_view(session=session, order=placed)
        if phone:
            _keep_phone(request, session, user, placed, phone)
    except PurchaseRefused as exc:
        session.rollback()
        raise ApiError(422, exc.code.value, exc.message, exc.field) from None
    session.commit()
    return view


def _keep_phone(request: Request, session: SessionDep, user: User, order: PolicyOrder, phone: str) -> None:
    """The payer's contact phone, kept on their roster record (a payer outside the roster has none)."""
    payer = session.get(InsuredPerson, order.payer_id) if order.payer_id is not None else None
    if payer is None:
        session.rollback()
        raise ApiError(422, "not_in_roster", "付款人不在参保名单中，无法登记手机号", "phone")
    keys = request.app.state.settings.pii_keys
    set_phone(session=session, actor=actor_of(request, user), person=payer, phone=phone, keys=keys)


@router.get("/policies/mine", response_model=list[OrderOut], responses=ERRORS)
def my_orders(session: SessionDep, user: Annotated[User, Depends(Allow(Role.RESIDENT))]) -> list[dict]:
    """The signed-in resident's orders, newest first: those they paid for (their family's policies) and
    those holding their own policy."""
    return orders_of(session=session, psn_no=user.psn_no or "")


class Verification(BaseModel):
    valid: bool
    reason: str
    status: str
    status_name: str
    policy_no: str = Field(description="保单号（中间部分已遮蔽）")
    plan: str
    plan_name: str
    tier_name: str
    cover_start: str
    cover_end: str
    checked_on: str


def epolicy_response(request: Request, session: SessionDep, user: User, policy_no: str) -> Response:
    """The e-policy PDF for a user who may see it (the web page's download shares it)."""
    try:
        held = get_policy_or_raise(session=session, policy_no=policy_no)
    except PolicyNotFound:
        raise ApiError(404, "policy_not_found", f"没有保单 {policy_no}", "policy_no") from None
    if user.role == Role.RESIDENT and not resident_may_see(held, user.psn_no, session=session):
        raise ApiError(403, "forbidden", "只能查看本人或本人所购家庭成员的保单", "policy_no")
    settings = request.app.state.settings
    url = str(request.base_url).rstrip("/") + f"/verify/{held.policy.verify_code}"
    try:
        pdf = render(epolicy(held, keys=settings.pii_keys, verify_url=url, issued=settings.platform_date()))
    except EPolicyError as exc:
        raise ApiError(503, "font_missing", str(exc), None) from None
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="epolicy-{policy_no}.pdf"'},
    )


@router.get("/policies/{policy_no}/epolicy.pdf", responses=ERRORS)
def epolicy_pdf(
    request: Request, session: SessionDep, policy_no: str, user: Annotated[User, Depends(Allow(*BUYERS))]
) -> Response:
    """The e-policy as a PDF: the insured person or the payer of their order, and staff."""
    return epolicy_response(request, session, user, policy_no)


@router.get("/verify/{code}", response_model=Verification, responses=ERRORS, dependencies=[Depends(Public())])
def verify_code(request: Request, session: SessionDep, code: str) -> dict:
    """Public: whether the policy with this e-policy code is valid today; no personal data."""
    try:
        return verify(session=session, code=code, day=request.app.state.settings.platform_date())
    except PolicyNotFound:
        raise ApiError(404, "policy_not_found", "验真码无效：没有对应的保单", "code") from None


class CancelOut(BaseModel):
    policy_no: str
    status: str
    refund: str = Field(description="退还保费（元）")
    reason: str


@router.post("/policies/{policy_no}/cancel", response_model=CancelOut, responses=ERRORS)
def cancel(
    request: Request, session: SessionDep, policy_no: str, user: Annotated[User, Depends(Allow(*BUYERS))]
) -> dict:
    """Cancel a policy (退保): unpaid, it is simply cancelled; paid, it is refunded as the plan's refund rule
    says, with the reason; refused (422, with the reason) when the rule allows no refund."""
    try:
        held = get_policy_or_raise(session=session, policy_no=policy_no)
    except PolicyNotFound:
        raise ApiError(404, "policy_not_found", f"没有保单 {policy_no}", "policy_no") from None
    if user.role == Role.RESIDENT and not resident_may_see(held, user.psn_no, session=session):
        raise ApiError(403, "forbidden", "只能为本人或本人所购家庭成员的保单退保", "policy_no")
    try:
        done = cancel_policy(
            session=session, actor=actor_of(request, user), policy_no=policy_no,
            day=request.app.state.settings.platform_date(),
        )  # fmt: skip
    except CancelRefused as exc:
        session.rollback()
        raise ApiError(422, exc.code, exc.message, "policy_no") from None
    session.commit()
    return {
        "policy_no": done.policy_no,
        "status": done.status.value,
        "refund": to_yuan(done.refund_fen),
        "reason": done.reason,
    }


class RenewalIn(BaseModel):
    consent: bool = Field(description="是否同意下一年度自动续保")


@router.post("/policies/{policy_no}/renewal", responses=ERRORS)
def renewal_consent(
    request: Request,
    session: SessionDep,
    policy_no: str,
    body: RenewalIn,
    user: Annotated[User, Depends(Allow(*BUYERS))],
) -> dict:
    """The payer's consent to renew this policy into next year's plan (or its withdrawal)."""
    try:
        held = get_policy_or_raise(session=session, policy_no=policy_no)
    except PolicyNotFound:
        raise ApiError(404, "policy_not_found", f"没有保单 {policy_no}", "policy_no") from None
    if user.role == Role.RESIDENT and not resident_may_see(held, user.psn_no, session=session):
        raise ApiError(403, "forbidden", "只能为本人或本人所购家庭成员的保单办理续保", "policy_no")
    set_renewal(session=session, actor=actor_of(request, user), held=held, consent=body.consent)
    session.commit()
    return {"policy_no": policy_no, "renew": body.consent}


class NewbornIn(BaseModel):
    plan: str = Field(min_length=1, max_length=64)
    child: str = Field(min_length=1, max_length=40, description="新生儿人员编号")
    parents: list[str] = Field(min_length=2, max_length=2, description="父母二人的人员编号")


@router.post("/policies/newborn", response_model=OrderOut, status_code=201, responses=ERRORS)
def newborn(
    request: Request, session: SessionDep, body: NewbornIn, user: Annotated[User, Depends(Allow(*BUYERS))]
) -> dict:
    """Register a newborn covered with its parents (no premium, cover from birth) where the plan says so;
    a resident registering must be one of the parents."""
    if user.role == Role.RESIDENT and user.psn_no not in body.parents:
        raise ApiError(403, "forbidden", "只有父母本人可以为新生儿办理随父母参保", "parents")
    try:
        order = cover_newborn(
            session=session, actor=actor_of(request, user), compiled=plan_or_404(body.plan), child=body.child,
            parents=(body.parents[0], body.parents[1]), day=request.app.state.settings.platform_date(),
        )  # fmt: skip
        view = order_view(session=session, order=order)
    except PurchaseRefused as exc:
        session.rollback()
        field = "child" if exc.index in (None, 0) else f"parents[{exc.index - 1}]"
        raise ApiError(422, exc.code.value, exc.message, field) from None
    session.commit()
    return view
