"""Year-end re-adjudication: the plan-year's recorded settlements again, through the batch engine.

In real time each settlement is paid in the order it arrives; a late record (a stay settled in March
that reached the platform in May) or a refund changes what should have been paid after it. The batch
engine runs the whole year in ``setl_time`` order, and where it pays a person under a liability other
than what was paid (real time plus earlier adjustments), one adjustment is written: a top-up or a
recovery. Running it again writes nothing new; afterwards the person's accumulators are the batch's,
so a settlement that arrives later still starts from the right state. It holds the persons' policy rows
(as the one-stop path does) while it works. Functions never commit.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import polars as pl
import sqlalchemy as sa
from sqlalchemy.orm import Session

from huiminbao.engine.adjudicate import adjudicate
from huiminbao.enrollment.models import InsuredPerson, Policy
from huiminbao.identity import audit
from huiminbao.money import to_yuan
from huiminbao.plans import compiled_plan
from huiminbao.settlement.models import Accumulator, Adjustment, Settlement, SettlementLine
from huiminbao.settlement.onestop import insured_frame, lock_policies
from huiminbao.settlement.reader import check_fee_lines, check_settlements, json_frame


@dataclass
class YearEnd:
    plan_id: str
    settlements: int = 0
    persons: int = 0
    paid_fen: int = 0  # real time and earlier adjustments, before this run
    due_fen: int = 0  # the batch engine over the year
    adjustments: list[dict[str, Any]] = field(default_factory=list)  # written by this run

    def summary(self) -> dict[str, Any]:
        return {
            "plan": self.plan_id,
            "settlements": self.settlements,
            "persons": self.persons,
            "paid": to_yuan(self.paid_fen),
            "due": to_yuan(self.due_fen),
            "adjustments": len(self.adjustments),
            "top_up": to_yuan(sum(a["amount"] for a in self.adjustments if a["amount"] > 0)),
            "recovery": to_yuan(-sum(a["amount"] for a in self.adjustments if a["amount"] < 0)),
        }

    def report_rows(self) -> list[dict[str, str]]:
        """One row per adjustment, amounts in yuan: who, which liability, paid, due, adjustment."""
        return [
            {
                "psn_no": a["psn_no"],
                "liability": a["liability"],
                "paid": to_yuan(a["paid"]),
                "due": to_yuan(a["due"]),
                "adjustment": to_yuan(a["amount"]),
            }
            for a in self.adjustments
        ]


def year_end(*, session: Session, actor: audit.Actor, plan_id: str) -> YearEnd:
    """Re-adjudicate the plan's recorded settlements and write the adjustments that make what was paid
    equal what the batch engine pays, per person and liability."""
    compiled = compiled_plan(plan_id)
    out = YearEnd(plan_id)
    _lock(session, plan_id)
    stored = session.execute(
        sa.select(Settlement.record, InsuredPerson, Policy)
        .join(InsuredPerson, InsuredPerson.id == Settlement.person_id)
        .join(Policy, Policy.id == Settlement.policy_id)
        .where(Settlement.plan_id == plan_id)
    ).all()
    if not stored:
        return out
    bodies = [json.loads(record) for record, _, _ in stored]
    held = {person.id: (person, policy) for _, person, policy in stored}
    settlements = check_settlements(
        json_frame([{**b["setlinfo"], "diseases": b.get("diseases") or []} for b in bodies]), "已记录的结算"
    )
    lines = [{"setl_id": b["setlinfo"]["setl_id"], **ln} for b in bodies for ln in b.get("feedetl") or []]
    fee_lines = check_fee_lines(json_frame(lines), "已记录的费用明细") if lines else None
    batch = adjudicate(compiled, settlements, insured_frame(list(held.values())), fee_lines)
    due = {
        (r["psn_no"], r["liability"]): r["payout"]
        for r in batch.lines.group_by("psn_no", "liability").agg(pl.col("payout").sum()).iter_rows(named=True)
    }
    paid = _paid(session, plan_id)
    ids = {person.psn_no: pid for pid, (person, _) in held.items()}
    out.settlements, out.persons = len(stored), len(held)
    out.paid_fen, out.due_fen = sum(paid.values()), sum(due.values())
    for psn_no, liability in sorted(set(due) | set(paid)):
        amount = due.get((psn_no, liability), 0) - paid.get((psn_no, liability), 0)
        if amount == 0:
            continue
        was, owed = paid.get((psn_no, liability), 0), due.get((psn_no, liability), 0)
        session.add(
            Adjustment(
                plan_id=plan_id,
                person_id=ids[psn_no],
                liability=liability,
                amount_fen=amount,
                paid_fen=was,
                due_fen=owed,
            )
        )
        out.adjustments.append({"psn_no": psn_no, "liability": liability, "paid": was, "due": owed, "amount": amount})
    _replace_accumulators(session, plan_id, compiled.plan.year, list(ids), batch.accumulators)
    audit.record(
        session=session,
        actor=actor,
        action="settlement.year_end",
        entity="plan",
        entity_id=plan_id,
        after=out.summary(),
    )
    return out


def _lock(session: Session, plan_id: str) -> None:
    """Hold the policies of everyone with a settlement under the plan, in id order, as the one-stop path
    does: a settlement arriving meanwhile waits (its accumulators are about to be replaced), and so does a
    second year-end, which then sees this one's adjustments and writes nothing. SQLite has one writer."""
    lock_policies(session, Policy.id.in_(sa.select(Settlement.policy_id).where(Settlement.plan_id == plan_id)))


def _paid(session: Session, plan_id: str) -> dict[tuple[str, str], int]:
    """Fen paid per (psn_no, liability): settlement lines (refunds negative) and earlier adjustments."""
    paid: dict[tuple[str, str], int] = defaultdict(int)
    lines = session.execute(
        sa.select(InsuredPerson.psn_no, SettlementLine.liability, sa.func.sum(SettlementLine.payout))
        .join(Settlement, Settlement.id == SettlementLine.settlement_id)
        .join(InsuredPerson, InsuredPerson.id == Settlement.person_id)
        .where(Settlement.plan_id == plan_id)
        .group_by(InsuredPerson.psn_no, SettlementLine.liability)
    ).all()
    adjusted = session.execute(
        sa.select(InsuredPerson.psn_no, Adjustment.liability, sa.func.sum(Adjustment.amount_fen))
        .join(InsuredPerson, InsuredPerson.id == Adjustment.person_id)
        .where(Adjustment.plan_id == plan_id)
        .group_by(InsuredPerson.psn_no, Adjustment.liability)
    ).all()
    for psn_no, liability, fen in [*lines, *adjusted]:
        paid[(psn_no, liability)] += int(fen or 0)
    return {k: v for k, v in paid.items() if v}


CHUNK = 10_000  # persons per statement: PostgreSQL takes at most 65,535 parameters, SQLite 32,766


def _replace_accumulators(session: Session, plan_id: str, year: int, psn_nos: list[str], state: pl.DataFrame) -> None:
    for start in range(0, len(psn_nos), CHUNK):
        chunk = psn_nos[start : start + CHUNK]
        session.execute(
            sa.delete(Accumulator).where(
                Accumulator.plan_id == plan_id, Accumulator.year == year, Accumulator.psn_no.in_(chunk)
            )
        )
    rows = [
        {"psn_no": psn, "plan_id": plan_id, "year": year, "key": key, "value": value}
        for psn, key, value in state.select("psn_no", "key", "value").iter_rows()
    ]
    if rows:
        session.execute(sa.insert(Accumulator), rows)


__all__ = ["YearEnd", "year_end"]
