"""Year-end re-adjudication: the plan-year's recorded settlements again, through the batch engine.

In real time each settlement is paid in the order it arrives; a late record (a stay settled in March
that reached the platform in May) or a refund changes what should have been paid after it. The batch
engine runs the whole year in ``setl_time`` order, and where it pays a person under a liability other
than what was paid (real time plus earlier adjustments), one adjustment is written: a top-up or a
recovery. Running it again writes nothing new; afterwards the person's accumulators are the batch's,
so a settlement that arrives later still starts from the right state. It holds the persons' policy rows
(as the one-stop path does) while it works. Functions never commit.

A national year does not fit in memory, so nothing holds it whole on the way: the stored records are
read from the database a batch at a time into Parquet files in a scratch folder (the text a year's
files would hold), and ``scale.years`` gives the engine the year whole when it fits, else part by part
of persons (a person never spans two parts, so each part's adjustments and accumulators are the whole
run's for its persons). Adjustments and accumulators are written part by part in bulk inserts.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
import sqlalchemy as sa
from sqlalchemy.orm import Session

from huiminbao.engine.adjudicate import adjudicate
from huiminbao.enrollment.models import InsuredPerson, Policy
from huiminbao.identity import audit
from huiminbao.money import to_yuan
from huiminbao.plans import compiled_plan
from huiminbao.scale.partition import Inputs, Tick
from huiminbao.scale.years import parts_needed, year_parts
from huiminbao.settlement.models import Accumulator, Adjustment, Settlement, SettlementLine
from huiminbao.settlement.onestop import insured_frame, lock_policies
from huiminbao.settlement.reader import json_frame


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


def year_end(
    *,
    session: Session,
    actor: audit.Actor,
    plan_id: str,
    memory_limit: int | None = None,
    partitions: int | None = None,
    scratch: Path | None = None,
    tick: Tick | None = None,
) -> YearEnd:
    """Re-adjudicate the plan's recorded settlements and write the adjustments that make what was paid
    equal what the batch engine pays, per person and liability. The year runs in memory when it fits
    (or as ``partitions`` parts of persons, or as many as keep each part under ``memory_limit`` bytes)."""
    compiled = compiled_plan(plan_id)
    out = YearEnd(plan_id)
    report: Tick = tick or (lambda what, done, total: None)
    _lock(session, plan_id)
    folder = Path(tempfile.mkdtemp(prefix="hmb-year-end-", dir=scratch))
    try:
        exported = _export(session, plan_id, folder, report)
        if exported is None:
            return out
        inputs, ids = exported
        parts = parts_needed(inputs, memory_limit, partitions)
        paid = _paid(session, plan_id)
        year = compiled.plan.year
        for k, part in enumerate(year_parts([compiled], inputs, parts, scratch=scratch, tick=tick)):
            batch = adjudicate(compiled, part.settlements, part.insured, part.fee_lines)
            persons = part.insured["psn_no"]
            was = paid.filter(pl.col("psn_no").is_in(persons.implode()))
            due = batch.lines.group_by("psn_no", "liability").agg(pl.col("payout").sum().alias("due"))
            out.settlements += part.settlements.height
            out.persons += persons.len()
            out.paid_fen += int(was["paid"].sum())
            out.due_fen += int(due["due"].sum())
            out.adjustments += _adjust(session, plan_id, due, was, ids)
            _replace_accumulators(session, plan_id, year, persons.to_list(), batch.accumulators)
            report("写入调整与累计", k + 1, parts or 1)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    out.adjustments.sort(key=lambda a: (a["psn_no"], a["liability"]))
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


def _export(session: Session, plan_id: str, folder: Path, tick: Tick) -> tuple[Inputs, pl.DataFrame] | None:
    """The plan's stored settlements, their fee lines and their persons as Parquet files in ``folder``
    (the text a file of the year would hold: the engine reads them through the one reader, whole or by
    part), read ``BATCH`` rows at a time so memory holds a batch, not the year; and each person's row
    id by ``psn_no``, for the adjustments. None when the plan has no settlement."""
    total = session.scalar(sa.select(sa.func.count()).where(Settlement.plan_id == plan_id)) or 0
    if not total:
        return None
    tick("导出已记录的结算", 0, total)
    records = (
        sa.select(Settlement.record)
        .where(Settlement.plan_id == plan_id)
        .order_by(Settlement.id)
        .execution_options(yield_per=BATCH)
    )
    setl, lines, done = [], [], 0
    for k, rows in enumerate(session.execute(records).partitions()):
        bodies = [json.loads(record) for (record,) in rows]
        setl.append(
            _batch_file(
                folder / "settlements", k, [{**b["setlinfo"], "diseases": b.get("diseases") or []} for b in bodies]
            )
        )
        fee = [{"setl_id": b["setlinfo"]["setl_id"], **ln} for b in bodies for ln in b.get("feedetl") or []]
        if fee:
            lines.append(_batch_file(folder / "fee_lines", k, fee))
        done += len(rows)
        tick("导出已记录的结算", done, total)
    # a person's settlements name one policy of the plan; should two, the later one's tier and cover count
    held = (
        sa.select(Settlement.person_id, sa.func.max(Settlement.policy_id).label("policy_id"))
        .where(Settlement.plan_id == plan_id)
        .group_by(Settlement.person_id)
        .subquery()
    )
    persons = (
        sa.select(InsuredPerson, Policy)
        .join(held, held.c.person_id == InsuredPerson.id)
        .join(Policy, Policy.id == held.c.policy_id)
        .order_by(InsuredPerson.id)
        .execution_options(yield_per=BATCH)
    )
    people, ids = [], []
    for k, rows in enumerate(session.execute(persons).partitions()):
        found = [(person, policy) for person, policy in rows]
        people.append(folder / "insured" / f"{k}.parquet")
        people[-1].parent.mkdir(exist_ok=True)
        insured_frame(found).write_parquet(people[-1])
        ids.append(pl.DataFrame({"psn_no": [p.psn_no for p, _ in found], "person_id": [p.id for p, _ in found]}))
    inputs = Inputs(
        _one_file(setl, folder / "settlements.parquet"),
        _one_file(people, folder / "insured.parquet"),
        _one_file(lines, folder / "fee_lines.parquet") if lines else None,
    )
    return inputs, pl.concat(ids)


def _batch_file(folder: Path, k: int, rows: list[dict[str, Any]]) -> Path:
    """One batch of JSON objects as the text columns a CSV file would give (``json_frame``), in Parquet."""
    folder.mkdir(exist_ok=True)
    path = folder / f"{k}.parquet"
    json_frame(rows).collect().write_parquet(path)
    return path


def _one_file(batches: list[Path], path: Path) -> Path:
    """The batches' files as one (the readers take a file): columns a batch lacks are empty, as
    ``json_frame`` leaves a key an object lacks. Streamed, then the batches are removed."""
    pl.concat([pl.scan_parquet(b) for b in batches], how="diagonal").sink_parquet(path)
    shutil.rmtree(batches[0].parent)
    return path


PAID = {"psn_no": pl.Utf8, "liability": pl.Utf8, "paid": pl.Int64}


def _paid(session: Session, plan_id: str) -> pl.DataFrame:
    """Fen paid per (psn_no, liability): settlement lines (refunds negative) and earlier adjustments;
    one row per pair with a non-zero sum, read a batch at a time."""
    lines = (
        sa.select(
            InsuredPerson.psn_no, SettlementLine.liability, sa.cast(sa.func.sum(SettlementLine.payout), sa.BigInteger)
        )
        .join(Settlement, Settlement.id == SettlementLine.settlement_id)
        .join(InsuredPerson, InsuredPerson.id == Settlement.person_id)
        .where(Settlement.plan_id == plan_id)
        .group_by(InsuredPerson.psn_no, SettlementLine.liability)
    )
    adjusted = (
        sa.select(
            InsuredPerson.psn_no, Adjustment.liability, sa.cast(sa.func.sum(Adjustment.amount_fen), sa.BigInteger)
        )
        .join(InsuredPerson, InsuredPerson.id == Adjustment.person_id)
        .where(Adjustment.plan_id == plan_id)
        .group_by(InsuredPerson.psn_no, Adjustment.liability)
    )
    frames = [pl.DataFrame(schema=PAID)]
    for query in (lines, adjusted):
        for rows in session.execute(query.execution_options(yield_per=BATCH)).partitions():
            frames.append(pl.DataFrame([tuple(r) for r in rows], schema=PAID, orient="row"))
    paid = pl.concat(frames).group_by("psn_no", "liability").agg(pl.col("paid").fill_null(0).sum())
    return paid.filter(pl.col("paid") != 0)


def _adjust(
    session: Session, plan_id: str, due: pl.DataFrame, paid: pl.DataFrame, ids: pl.DataFrame
) -> list[dict[str, Any]]:
    """Write one adjustment per (person, liability) the batch pays other than was paid (inserted
    ``CHUNK`` rows at a time); return them as the report lists them."""
    diff = (
        due.join(paid, on=["psn_no", "liability"], how="full", coalesce=True)
        .with_columns(pl.col("due", "paid").fill_null(0))
        .with_columns((pl.col("due") - pl.col("paid")).alias("amount"))
        .filter(pl.col("amount") != 0)
        .join(ids, on="psn_no", how="left")
    )
    rows = diff.select(
        pl.lit(plan_id).alias("plan_id"),
        "person_id",
        "liability",
        pl.col("amount").alias("amount_fen"),
        pl.col("paid").alias("paid_fen"),
        pl.col("due").alias("due_fen"),
    ).to_dicts()
    for start in range(0, len(rows), CHUNK):
        session.execute(sa.insert(Adjustment), rows[start : start + CHUNK])
    return diff.select("psn_no", "liability", "paid", "due", "amount").to_dicts()


BATCH = 20_000  # rows read from the database at a time
CHUNK = 10_000  # persons or rows per statement: PostgreSQL takes at most 65,535 parameters, SQLite 32,766


def _replace_accumulators(session: Session, plan_id: str, year: int, psn_nos: list[str], state: pl.DataFrame) -> None:
    """The persons' accumulators become the batch's (``CHUNK`` persons, then rows, per statement)."""
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
    for start in range(0, len(rows), CHUNK):
        session.execute(sa.insert(Accumulator), rows[start : start + CHUNK])


__all__ = ["YearEnd", "year_end"]
