"""``/api/v1/payments``: the payment gateway's signed callback, and the demo's simulated payment.

The callback is public (the gateway has no user) but must carry ``X-HMB-Gateway-Signature``, the
HMAC-SHA256 of the raw body under ``HMB_PAYMENT_SECRET``; without a valid one it is refused (401) and
nothing changes. A repeated callback answers the same and pays nothing twice.
"""

from __future__ import annotations

from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

from huiminbao.access.errors import ApiError
from huiminbao.access.policies import Allow, Public
from huiminbao.api.errors import ERRORS
from huiminbao.db import SessionDep
from huiminbao.enrollment.models import Channel, PolicyOrder
from huiminbao.enrollment.payment import (
    SIGNATURE_HEADER,
    PaymentError,
    SimulatedGateway,
    parse_callback,
    settle,
    verify_signature,
)
from huiminbao.enrollment.policies import resident_pays_for
from huiminbao.identity import audit
from huiminbao.identity.models import Role, User

router = APIRouter(prefix="/api/v1/payments", tags=["payments"])
GATEWAY = audit.Actor("payment-gateway", "system")


class PaymentOut(BaseModel):
    order: str
    status: str
    repeated: bool


def handle_callback(request: Request, session: SessionDep, body: bytes, signature: str | None) -> dict:
    """Check the signature, apply the result once, commit (the simulator shares it)."""
    settings = request.app.state.settings
    if not verify_signature(body, signature, settings.payment_secret):
        raise ApiError(401, "bad_signature", "支付回调签名无效", SIGNATURE_HEADER)
    try:
        cb = parse_callback(body)
        done = settle(
            session=session, actor=GATEWAY, order_no=cb.order_no, reference=cb.txn_id, amount_fen=cb.amount_fen,
            paid=cb.paid, reason=cb.reason, channel=Channel.ONLINE, day=settings.platform_date(),
        )  # fmt: skip
    except PaymentError as exc:
        session.rollback()
        raise ApiError(404 if exc.code == "order_not_found" else 422, exc.code, exc.message, exc.field) from None
    session.commit()
    return {"order": done.order_no, "status": done.status.value, "repeated": done.repeated}


@router.post("/callback", response_model=PaymentOut, responses=ERRORS, dependencies=[Depends(Public())])
async def callback(request: Request, session: SessionDep) -> dict:
    """The payment gateway reports a payment (``paid``) or a failure (``failed``) for an order."""
    body = await request.body()
    return handle_callback(request, session, body, request.headers.get(SIGNATURE_HEADER))


@router.post("/simulate/{order_no}", response_model=PaymentOut, responses=ERRORS)
def simulate(
    request: Request,
    session: SessionDep,
    order_no: str,
    user: Annotated[User, Depends(Allow(Role.RESIDENT, Role.ADMIN))],
    fail: bool = False,
) -> dict:
    """Demo only (``HMB_PAYMENT_SIMULATOR``): pay an order as the gateway would, through the same signed
    callback; ``fail=true`` reports a failed payment instead."""
    return simulate_payment(request, session, user, order_no, fail=fail)


def simulate_payment(request: Request, session: SessionDep, user: User, order_no: str, *, fail: bool) -> dict:
    """The simulated gateway pays (or fails) the user's order through the signed callback (the web page's
    pay button shares it)."""
    settings = request.app.state.settings
    if not settings.payment_simulator:
        raise ApiError(404, "simulator_off", "未启用模拟支付", None)
    order = session.scalars(sa.select(PolicyOrder).where(PolicyOrder.order_no == order_no)).first()
    if order is None:
        raise ApiError(404, "order_not_found", f"没有订单 {order_no}", "order_no")
    if user.role == Role.RESIDENT and not resident_pays_for(session=session, order=order, psn_no=user.psn_no):
        raise ApiError(403, "forbidden", "只能支付本人的订单", "order_no")
    body, signature = SimulatedGateway(settings.payment_secret).callback(
        order.order_no, order.total_fen, paid=not fail, reason="余额不足（模拟）" if fail else None
    )
    return handle_callback(request, session, body, signature)
