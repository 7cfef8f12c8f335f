"""Paying for an order: the online gateway's signed callback and the bureau's personal-account file.

An order placed online or from the personal account waits (``pending_payment``). The result comes back
from its channel: the payment gateway calls ``POST /api/v1/payments/callback`` with a JSON body signed by
HMAC-SHA256 under the shared secret (``X-HMB-Gateway-Signature``); the bureau returns the personal-account
deduction file with one line per order (paid, or failed with its reason). Both end in ``settle``: the
channel's reference is unique, so a repeated callback or a re-imported file changes nothing; an amount
that differs from the order's total is refused; a paid order's policies become active from the later of
the payment day and the cover start.

``SimulatedGateway`` stands in for the real gateway in the demo and the tests: it signs callbacks exactly
as the real one is specified to. Functions take a keyword-only session and never commit.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from huiminbao.enrollment.models import (
    Channel,
    InsuredPerson,
    OrderStatus,
    Payment,
    PaymentStatus,
    Policy,
    PolicyEvent,
    PolicyOrder,
    PolicyStatus,
)
from huiminbao.identity import audit
from huiminbao.money import to_fen, to_yuan
from huiminbao.settings import at_day

SIGNATURE_HEADER = "X-HMB-Gateway-Signature"
DEDUCTION_HEADER = ("order_no", "psn_no", "amount")
RESULT_HEADER = ("order_no", "result", "reason")


class PaymentError(ValueError):
    """A payment result that cannot be applied: ``code`` and a Chinese message naming the order or line."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.field = code, message, field


@dataclass(frozen=True)
class Settled:
    order_no: str
    status: OrderStatus
    repeated: bool  # this reference was seen before: nothing changed


def sign(body: bytes, secret: str) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(body: bytes, signature: str | None, secret: str) -> bool:
    return signature is not None and hmac.compare_digest(sign(body, secret), signature.strip().lower())


def settle(
    *,
    session: Session,
    actor: audit.Actor,
    order_no: str,
    reference: str,
    amount_fen: int,
    paid: bool,
    reason: str | None,
    channel: Channel,
    day: date,
) -> Settled:
    """Apply one payment result to an order, once per ``reference``."""
    order = session.scalars(sa.select(PolicyOrder).where(PolicyOrder.order_no == order_no).with_for_update()).first()
    if order is None:
        raise PaymentError("order_not_found", f"没有订单 {order_no}", "order_no")
    known = session.scalars(sa.select(Payment).where(Payment.reference == reference)).first()
    if known is not None:
        if known.order_id != order.id:
            raise PaymentError("reference_conflict", f"交易号 {reference} 已用于另一订单", "reference")
        return Settled(order.order_no, order.status, True)
    if paid and amount_fen != order.total_fen:
        raise PaymentError(
            "amount_mismatch",
            f"订单 {order_no} 应付 {to_yuan(order.total_fen)} 元，实付 {to_yuan(amount_fen)} 元",
            "amount",
        )
    session.add(
        Payment(
            order_id=order.id, channel=channel, reference=reference, amount_fen=amount_fen,
            status=PaymentStatus.PAID if paid else PaymentStatus.FAILED, reason=reason,
        )
    )  # fmt: skip
    if paid and order.status == OrderStatus.PENDING_PAYMENT:
        order.status, order.paid_at = OrderStatus.PAID, at_day(day)
        policies = session.scalars(
            sa.select(Policy).where(Policy.order_id == order.id, Policy.status == PolicyStatus.PENDING_PAYMENT)
        ).all()
        for p in policies:
            p.status, p.status_date = PolicyStatus.ACTIVE, day
            session.add(
                PolicyEvent(
                    policy_id=p.id,
                    status=PolicyStatus.ACTIVE,
                    effective=max(day, p.cover_start),
                    reason="已缴费，保单生效",
                )
            )
    audit.record(
        session=session, actor=actor, action="order.payment", entity="policy_order", entity_id=order.order_no,
        after={"reference": reference, "paid": paid, "amount": to_yuan(amount_fen), "reason": reason},
    )  # fmt: skip
    session.flush()
    return Settled(order.order_no, order.status, False)


@dataclass(frozen=True)
class Callback:
    order_no: str
    txn_id: str
    amount_fen: int
    paid: bool
    reason: str | None


def parse_callback(body: bytes) -> Callback:
    """The gateway's callback body: ``{"order_no", "txn_id", "amount": "89.00", "status": "paid"|"failed",
    "reason"}``."""
    try:
        data = json.loads(body)
        status = data["status"]
        if status not in ("paid", "failed"):
            raise ValueError(status)
        return Callback(
            order_no=str(data["order_no"]), txn_id=str(data["txn_id"])[:64], amount_fen=to_fen(str(data["amount"])),
            paid=status == "paid", reason=(str(data["reason"])[:200] if data.get("reason") else None),
        )  # fmt: skip
    except (ValueError, KeyError, TypeError):
        raise PaymentError("bad_callback", "支付回调内容不完整或格式有误", "body") from None


class SimulatedGateway:
    """The demo's payment gateway: 'pays' an order and signs the callback as the real gateway would."""

    def __init__(self, secret: str) -> None:
        self.secret = secret

    def callback(
        self, order_no: str, amount_fen: int, *, paid: bool = True, reason: str | None = None
    ) -> tuple[bytes, str]:
        """The callback body and its signature for a payment of ``amount_fen`` on ``order_no``."""
        txn = "SIM" + hashlib.sha256(f"{order_no}:{amount_fen}:{paid}".encode()).hexdigest()[:24]
        body = {
            "order_no": order_no,
            "txn_id": txn,
            "amount": to_yuan(amount_fen),
            "status": "paid" if paid else "failed",
        }
        if reason:
            body["reason"] = reason
        raw = json.dumps(body, ensure_ascii=False).encode()
        return raw, sign(raw, self.secret)


def deduction_file(*, session: Session, plan_id: str) -> str:
    """The personal-account deductions the bureau is asked to make: each pending personal-account order of
    the plan, with its payer and amount (CSV, UTF-8 with BOM)."""
    rows = session.execute(
        sa.select(PolicyOrder.order_no, InsuredPerson.psn_no, PolicyOrder.total_fen)
        .join(InsuredPerson, InsuredPerson.id == PolicyOrder.payer_id)
        .where(
            PolicyOrder.plan_id == plan_id,
            PolicyOrder.channel == Channel.PERSONAL_ACCOUNT,
            PolicyOrder.status == OrderStatus.PENDING_PAYMENT,
        )
        .order_by(PolicyOrder.id)
    ).all()
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(DEDUCTION_HEADER)
    writer.writerows((no, psn_no, to_yuan(fen)) for no, psn_no, fen in rows)
    return out.getvalue()


def import_deduction_results(*, session: Session, actor: audit.Actor, text: str, day: date) -> dict[str, Any]:
    """The bureau's answer to ``deduction_file``: ``order_no,result,reason`` with result ``paid`` or
    ``failed``. All lines are checked before any is applied; a bad line names its line number."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    missing = [c for c in RESULT_HEADER[:2] if c not in (reader.fieldnames or ())]
    if missing:
        raise PaymentError("bad_file", f"扣款结果文件缺少列 {', '.join(missing)}", "file")
    lines = list(enumerate(reader, start=2))
    for line, row in lines:
        if (row.get("result") or "").strip() not in ("paid", "failed"):
            raise PaymentError("bad_line", f"第 {line} 行：result 应为 paid 或 failed", f"line {line}")
    counts = {"paid": 0, "failed": 0, "repeated": 0}
    for line, row in lines:
        order_no = (row["order_no"] or "").strip()
        order = session.scalars(sa.select(PolicyOrder).where(PolicyOrder.order_no == order_no)).first()
        if order is None:
            raise PaymentError("order_not_found", f"第 {line} 行：没有订单 {order_no}", f"line {line}")
        paid = row["result"].strip() == "paid"
        done = settle(
            session=session, actor=actor, order_no=order_no, reference=f"PA-{order_no}-{'paid' if paid else 'failed'}",
            amount_fen=order.total_fen, paid=paid, reason=(row.get("reason") or "").strip() or None,
            channel=Channel.PERSONAL_ACCOUNT, day=day,
        )  # fmt: skip
        counts["repeated" if done.repeated else ("paid" if paid else "failed")] += 1
    return counts


__all__ = [
    "PaymentError",
    "SimulatedGateway",
    "deduction_file",
    "import_deduction_results",
    "parse_callback",
    "settle",
    "sign",
    "verify_signature",
]
