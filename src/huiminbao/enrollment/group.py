"""Group and charity policies (团单): an employer or a charity buys for a list of people in one order.

The list is a CSV or Excel file with a ``psn_no`` or a ``certno`` column (ID numbers are looked up by
their keyed hash, never stored). A quote sorts the list: who can be insured and at what premium, who
already holds the plan, who is not eligible and why, each by line. Buying takes the eligible ones in one
paid order; the others are reported, not bought. A charity fund pays as far as its balance goes, in the
list's order: the balance falls by one guarded update (``balance >= spent``) inside the purchase's
transaction, so two allocations at once can never spend a fen more than the fund holds.
Functions take a keyword-only session and never commit.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import sqlalchemy as sa
from sqlalchemy.orm import Session

from huiminbao.enrollment.eligibility import Decision, Refusal, decide
from huiminbao.enrollment.models import (
    Channel,
    CharityFund,
    InsuredPerson,
    OrderStatus,
    PolicyOrder,
    Relation,
)
from huiminbao.enrollment.purchase import applicant, held_policies, live_policy, number, place_policy
from huiminbao.identity import audit
from huiminbao.identity.certno import mask_certno
from huiminbao.identity.pii import certno_hash
from huiminbao.money import to_yuan
from huiminbao.plans import Compiled
from huiminbao.settings import at_day


class GroupError(ValueError):
    """A list that cannot be read, or a fund that cannot pay: ``code`` and a Chinese message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass(frozen=True)
class Line:
    line: int
    psn_no: str | None
    certno: str | None

    @property
    def shown(self) -> str:
        """How the line names the person in a report: the psn_no, or the ID number masked."""
        return self.psn_no or mask_certno(self.certno or "")


@dataclass
class Quote:
    eligible: list[tuple[Line, InsuredPerson, Decision]] = field(default_factory=list)
    refused: list[tuple[Line, str, str]] = field(default_factory=list)  # line, code, reason

    @property
    def total_fen(self) -> int:
        return sum(d.premium_fen or 0 for _, _, d in self.eligible)

    def view(self) -> dict[str, Any]:
        return {
            "members": len(self.eligible) + len(self.refused),
            "eligible": len(self.eligible),
            "total": to_yuan(self.total_fen),
            "insured": [
                {"line": ln.line, "psn_no": p.psn_no, "tier": d.tier, "premium": to_yuan(d.premium_fen or 0)}
                for ln, p, d in self.eligible
            ],
            "refused": [
                {"line": ln.line, "person": ln.shown, "code": code, "reason": why} for ln, code, why in self.refused
            ],
        }


def read_list(name: str, data: bytes) -> list[Line]:
    """The uploaded list: ``psn_no`` or ``certno`` per row (header row; other columns ignored)."""
    suffix = Path(name).suffix.lower()
    try:
        if suffix == ".xlsx":
            frame = pl.read_excel(io.BytesIO(data), engine="calamine", infer_schema_length=0)
        elif suffix in (".csv", ".txt"):
            frame = pl.read_csv(io.BytesIO(data), infer_schema=False, truncate_ragged_lines=True)
        else:
            raise GroupError("bad_list", f"{name}: 名单应为 .csv 或 .xlsx 文件")
    except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
        if isinstance(exc, GroupError):
            raise
        raise GroupError("bad_list", f"{name}: 无法读取名单") from None
    frame = frame.rename({c: c.strip().lstrip("\ufeff") for c in frame.columns})
    if "psn_no" not in frame.columns and "certno" not in frame.columns:
        raise GroupError("bad_list", f"{name}: 名单须有 psn_no（人员编号）或 certno（身份证号）列")
    rows = []
    for i, row in enumerate(frame.iter_rows(named=True), start=2):
        psn_no = (row.get("psn_no") or "").strip() or None
        certno = (row.get("certno") or "").strip().upper() or None
        if psn_no or certno:
            rows.append(Line(i, psn_no, certno))
    if not rows:
        raise GroupError("bad_list", f"{name}: 名单中没有人")
    return rows


def quote(
    *, session: Session, compiled: Compiled, lines: list[Line], hash_key: bytes, day: date, channel: Channel,
    tier: str | None = None,
) -> Quote:  # fmt: skip
    """Sort the list into who can be insured (with tier and premium) and who cannot, and why."""
    plan = compiled.plan
    out = Quote()
    if not plan.enrollment.group_policies:
        raise GroupError("group_not_allowed", f"{plan.name}不接受团体或慈善投保")
    by_no = _people(session, InsuredPerson.psn_no, [ln.psn_no for ln in lines if ln.psn_no])
    by_hash = _people(
        session,
        InsuredPerson.certno_hash,
        [certno_hash(ln.certno, hash_key) for ln in lines if ln.certno and not ln.psn_no],
    )
    seen: set[int] = set()
    for ln in lines:
        person = by_no.get(ln.psn_no) if ln.psn_no else by_hash.get(certno_hash(ln.certno or "", hash_key))
        if person is not None and person.id in seen:
            out.refused.append((ln, "duplicate", "名单中重复出现"))
            continue
        d = decide(compiled, applicant(person) if person else None, day=day, channel=channel, tier=tier)
        if not d.eligible or person is None:
            assert d.code is not None
            out.refused.append((ln, d.code.value, d.reason))
            continue
        held = live_policy(session=session, plan_id=plan.id, person_id=person.id)
        if held is not None:
            out.refused.append((ln, Refusal.ALREADY_INSURED.value, f"已持有{plan.name}保单"))
            continue
        seen.add(person.id)
        out.eligible.append((ln, person, d))
    return out


def _people(session: Session, column: Any, keys: list[str]) -> dict[str, InsuredPerson]:
    out: dict[str, InsuredPerson] = {}
    for start in range(0, len(keys), 1000):
        chunk = keys[start : start + 1000]
        for p in session.scalars(sa.select(InsuredPerson).where(column.in_(chunk))):
            out[getattr(p, column.key)] = p
    return out


def buy_group(
    *, session: Session, actor: audit.Actor, compiled: Compiled, lines: list[Line], hash_key: bytes, day: date,
    payer_name: str, tier: str | None = None, fund_id: int | None = None,
) -> tuple[PolicyOrder | None, Quote]:  # fmt: skip
    """One paid order for everyone the quote finds eligible (a charity fund: as far as its balance goes)."""
    channel = Channel.CHARITY if fund_id is not None else Channel.GROUP
    q = quote(session=session, compiled=compiled, lines=lines, hash_key=hash_key, day=day, channel=channel, tier=tier)
    if fund_id is not None:
        q = _within_fund(session, fund_id, compiled.plan.id, q)
    if not q.eligible:
        return None, q
    plan = compiled.plan
    order = PolicyOrder(
        order_no=number("O", plan.year), plan_id=plan.id, payer_id=None, payer_name=payer_name[:100], channel=channel,
        status=OrderStatus.PAID, total_fen=q.total_fen, username=actor.name, paid_at=at_day(day),
    )  # fmt: skip
    session.add(order)
    session.flush()
    held = held_policies(session=session, plan_id=plan.id, person_ids=[p.id for _, p, _ in q.eligible])
    for _, person, d in q.eligible:
        place_policy(session, order, plan.id, person, Relation.OTHER, d, paid=True, day=day, reuse=held.get(person.id))
    audit.record(
        session=session, actor=actor, action=f"policy.{channel.value}", entity="policy_order", entity_id=order.order_no,
        after={"plan": plan.id, "payer": payer_name, "insured": len(q.eligible), "refused": len(q.refused),
               "total": to_yuan(q.total_fen), "fund": fund_id},
    )  # fmt: skip
    return order, q


def _within_fund(session: Session, fund_id: int, plan_id: str, q: Quote) -> Quote:
    """Keep the list's first members the fund can pay for; take their premiums from it, guarded."""
    fund = session.get(CharityFund, fund_id, with_for_update=True)
    if fund is None or fund.plan_id != plan_id:
        raise GroupError("fund_not_found", f"没有用于该方案的慈善资金 {fund_id}")
    kept, spent = Quote(refused=list(q.refused)), 0
    for ln, person, d in q.eligible:
        premium = d.premium_fen or 0
        if spent + premium <= fund.balance_fen:
            kept.eligible.append((ln, person, d))
            spent += premium
        else:
            kept.refused.append(
                (ln, "fund_exhausted", f"慈善资金余额不足（余 {to_yuan(fund.balance_fen - spent)} 元）")
            )
    if spent:
        done = session.execute(
            sa.update(CharityFund)
            .where(CharityFund.id == fund_id, CharityFund.balance_fen >= spent)
            .values(balance_fen=CharityFund.balance_fen - spent)
        )
        if done.rowcount != 1:  # type: ignore[attr-defined]
            raise GroupError("fund_exhausted", "慈善资金已被同时进行的其他分配用完，请重试")
    return kept


def create_fund(*, session: Session, actor: audit.Actor, name: str, plan_id: str, amount_fen: int) -> CharityFund:
    if amount_fen <= 0 or not name.strip():
        raise GroupError("bad_fund", "慈善资金须有名称和正的金额")
    fund = CharityFund(name=name.strip()[:100], plan_id=plan_id, donated_fen=amount_fen, balance_fen=amount_fen)
    session.add(fund)
    session.flush()
    audit.record(
        session=session, actor=actor, action="charity.fund", entity="charity_fund", entity_id=str(fund.id),
        after={"name": fund.name, "plan": plan_id, "amount": to_yuan(amount_fen)},
    )  # fmt: skip
    return fund


__all__ = ["GroupError", "Line", "Quote", "buy_group", "create_fund", "quote", "read_list"]
