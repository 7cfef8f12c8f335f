"""One-stop settlement (一站式结算): a settlement record in, the 惠民保 payout out, in one transaction.

The hospital's system has just settled basic insurance and sends the national record; the payout
comes from the same ``engine.adjudicate`` as the batch, with the person's stored accumulators as the
prior state (and, for a refund, the original's stored lines). The settlement, its lines, the
accumulators and the audit entry are written in the caller's transaction, or nothing is.

Two settlements of one person never overlap: the person's policy row is locked first (``SELECT ..
FOR UPDATE`` on PostgreSQL; SQLite has one writer at a time), and the accumulators are read after the
lock. The same ``setl_id`` with the same body answers the stored response byte for byte; with another
body it is refused. Functions take a keyword-only session and never commit.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import polars as pl
import sqlalchemy as sa
from sqlalchemy.orm import Session

from huiminbao.engine.adjudicate import adjudicate
from huiminbao.engine.place import uncovered_place
from huiminbao.engine.prepare import Status
from huiminbao.engine.reference import record_context
from huiminbao.engine.remaining import remaining
from huiminbao.engine.rules import tier_rules
from huiminbao.enrollment.models import InsuredPerson, Policy, PolicyStatus
from huiminbao.identity import audit
from huiminbao.money import to_yuan
from huiminbao.plans import compiled_plan
from huiminbao.settlement.estimate import explain_line
from huiminbao.settlement.models import (
    Accumulator,
    Settlement,
    SettlementKind,
    SettlementLine,
    SettlementSource,
)
from huiminbao.settlement.reader import RecordError, check_fee_lines, check_settlements, json_frame
from huiminbao.vocabulary import REFUND_FLAG, label

COVERING = (PolicyStatus.ACTIVE, PolicyStatus.SUSPENDED, PolicyStatus.ENDED)  # a stay before the change is covered
LINE_FIELDS = ("base", "counted", "deductible_used", "ratio", "entitled", "payout")


class SettlementRefused(Exception):
    """A settlement the platform will not pay on: HTTP status, code, Chinese message, field."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None):
        self.status, self.code, self.message, self.field = status, code, message, field
        super().__init__(message)


@dataclass(frozen=True)
class Answer:
    settlement: Settlement
    body: bytes  # the response, exactly as first given
    replayed: bool  # the same setl_id and body were settled before: nothing was paid now


def canonical(body: Mapping[str, Any]) -> str:
    """The body as stored and compared: keys sorted, no spaces, Chinese as is."""
    return json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def settle(
    *,
    session: Session,
    actor: audit.Actor,
    hospital_code: str,
    body: Mapping[str, Any],
    source: SettlementSource = SettlementSource.API,
) -> Answer:
    """Adjudicate and record one settlement (or a refund) sent by ``hospital_code``; raises
    ``SettlementRefused`` or ``RecordError`` and writes nothing when it cannot be paid on."""
    setlinfo, feedetl, diseases = _parts(body)
    setl_id = str(setlinfo.get("setl_id") or "")
    if not setl_id:
        raise RecordError("结算信息", "setlinfo.setl_id", f"缺少{label('setl_id')}")
    record = canonical(body)
    digest = hashlib.sha256(record.encode("utf-8")).hexdigest()
    if (done := _stored(session, setl_id, digest, hospital_code)) is not None:
        return done
    if str(setlinfo.get("fixmedins_code") or "") != hospital_code:
        raise SettlementRefused(
            403, "not_own_settlement", f"结算的定点医药机构编号不是本院（{hospital_code}）", "setlinfo.fixmedins_code"
        )
    row = {**setlinfo, "diseases": diseases}
    settlements = check_settlements(json_frame([row]), "结算信息")
    fee_lines = (
        check_fee_lines(json_frame([{"setl_id": setl_id, **ln} for ln in feedetl]), "费用明细") if feedetl else None
    )
    rec = settlements.row(0, named=True)
    person = session.scalars(sa.select(InsuredPerson).where(InsuredPerson.psn_no == rec["psn_no"])).one_or_none()
    if person is None:
        raise SettlementRefused(
            422, "unknown_person", f"{label('psn_no')} {rec['psn_no']} 不在参保名册中", "setlinfo.psn_no"
        )
    refund = rec["refd_setl_flag"] == REFUND_FLAG
    original = _original(session, rec, person) if refund else None
    policy = _policy(session, person, rec["begndate"], original)
    _lock(session, policy)
    if (done := _stored(session, setl_id, digest, hospital_code)) is not None:  # a racing send won
        return done
    if original is not None:
        session.refresh(original)
        if original.refunded_by is not None:
            raise SettlementRefused(
                409,
                "already_refunded",
                f"原结算 {original.setl_id} 已由 {original.refunded_by} 退费",
                "setlinfo.init_setl_id",
            )
    compiled = compiled_plan(policy.plan_id)
    year = compiled.plan.year
    insured = insured_frame([(person, policy)])
    rules = tier_rules(compiled, policy.tier)
    context = record_context(compiled.plan.cover_start, rec, insured.row(0, named=True), Status.COVERED)
    if original is None and (place := uncovered_place(rules, context)) is not None:
        raise SettlementRefused(422, "place_not_covered", place[1], f"setlinfo.{place[0]}")
    prior = _accumulators(session, person.psn_no, policy.plan_id, year)
    prior_lines = _lines_of(original) if original is not None else None
    result = adjudicate(compiled, settlements, insured, fee_lines, prior, prior_lines, explain=True)
    out = result.settlements.row(0, named=True)
    if out["status"] == Status.NOT_INSURED.value:  # cannot happen after the roster check; never pay blind
        raise SettlementRefused(422, "unknown_person", f"{rec['psn_no']} 未参保", "setlinfo.psn_no")
    state = {r["key"]: r["value"] for r in result.accumulators.iter_rows(named=True)}
    left = remaining(rules, context, state)
    names = {x.id: x.name for x in rules.liabilities}
    lines = result.lines.to_dicts()
    answer = {
        "setl_id": setl_id,
        "psn_no": person.psn_no,
        "plan": policy.plan_id,
        "tier": out["tier"],
        "policy_no": policy.policy_no,
        "payout": to_yuan(out["payout"]),
        "status": out["status"],
        "reason": out["reason"],
        "lines": [explain_line(ln, names) for ln in lines],
        "remaining": {k: to_yuan(v) for k, v in left.items()},
    }
    response = json.dumps(answer, ensure_ascii=False, separators=(",", ":"))
    stored = Settlement(
        setl_id=setl_id, hospital_code=hospital_code, person_id=person.id, plan_id=policy.plan_id,
        policy_id=policy.id, tier=out["tier"], kind=SettlementKind.REFUND if refund else SettlementKind.PAYMENT,
        source=source, setl_time=rec["setl_time"], begndate=rec["begndate"],
        init_setl_id=original.setl_id if original is not None else None, status=out["status"],
        payout_fen=out["payout"], body_sha256=digest, record=record, response=response,
        lines=[SettlementLine(liability=ln["liability"], reason=ln["reason"], **{f: ln[f] for f in LINE_FIELDS}) for ln in lines],
    )  # fmt: skip
    session.add(stored)
    if original is not None:
        original.refunded_by = setl_id
    _save_accumulators(session, person.psn_no, policy.plan_id, year, prior, state)
    session.flush()
    audit.record(
        session=session, actor=actor, action="settlement.refund" if refund else "settlement.pay", entity="settlement",
        entity_id=setl_id, after={"hospital": hospital_code, "plan": policy.plan_id, "payout": answer["payout"]},
    )  # fmt: skip
    return Answer(stored, response.encode("utf-8"), replayed=False)


def get_settlement_or_raise(*, session: Session, setl_id: str) -> Settlement:
    found = session.scalars(sa.select(Settlement).where(Settlement.setl_id == setl_id)).one_or_none()
    if found is None:
        raise SettlementRefused(404, "settlement_not_found", f"没有结算 {setl_id}", "setl_id")
    return found


def _parts(body: Mapping[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]], list[str]]:
    """The body's ``setlinfo``, ``feedetl`` and ``diseases``, shaped as INTERFACES.md says."""
    if not isinstance(body, Mapping):
        raise RecordError("请求", "(top)", "应为 JSON 对象 {setlinfo, feedetl, diseases}")
    unknown = sorted(set(body) - {"setlinfo", "feedetl", "diseases"})
    if unknown:
        raise RecordError("请求", unknown[0], f"未知的字段 {unknown[0]}（应为 setlinfo、feedetl、diseases）")
    setlinfo = body.get("setlinfo")
    if not isinstance(setlinfo, Mapping):
        raise RecordError("请求", "setlinfo", "缺少结算信息 setlinfo（JSON 对象）")
    feedetl = body.get("feedetl") or []
    if not isinstance(feedetl, list) or not all(isinstance(x, Mapping) for x in feedetl):
        raise RecordError("请求", "feedetl", "费用明细 feedetl 应为对象的列表")
    diseases = body.get("diseases") or setlinfo.get("diseases") or []
    if not isinstance(diseases, list) or not all(isinstance(x, str) for x in diseases):
        raise RecordError("请求", "diseases", "诊断 diseases 应为 ICD-10 编码的列表")
    return {k: v for k, v in setlinfo.items() if k != "diseases"}, [dict(x) for x in feedetl], list(diseases)


def _stored(session: Session, setl_id: str, digest: str, hospital_code: str) -> Answer | None:
    found = session.scalars(sa.select(Settlement).where(Settlement.setl_id == setl_id)).one_or_none()
    if found is None:
        return None
    if found.hospital_code != hospital_code:
        raise SettlementRefused(409, "setl_id_conflict", f"结算 {setl_id} 已由其他机构提交", "setlinfo.setl_id")
    if found.body_sha256 != digest:
        raise SettlementRefused(409, "setl_id_conflict", f"结算 {setl_id} 已以不同内容提交过", "setlinfo.setl_id")
    return Answer(found, found.response.encode("utf-8"), replayed=True)


def _original(session: Session, rec: dict[str, Any], person: InsuredPerson) -> Settlement:
    init = rec["init_setl_id"]
    original = session.scalars(sa.select(Settlement).where(Settlement.setl_id == init)).one_or_none()
    if original is None or original.person_id != person.id:
        raise SettlementRefused(
            422,
            "unknown_original",
            f"退费结算的{label('init_setl_id')} {init} 不是此人已结算的记录",
            "setlinfo.init_setl_id",
        )
    if original.kind is SettlementKind.REFUND:
        raise SettlementRefused(422, "unknown_original", f"{init} 本身是退费结算，不能再退", "setlinfo.init_setl_id")
    return original


def _policy(session: Session, person: InsuredPerson, day: date, original: Settlement | None) -> Policy:
    """The policy that covers the stay: a refund's is its original's; otherwise the person's policy whose
    cover period holds the admission date and that was not suspended or ended before it."""
    if original is not None:
        return session.get_one(Policy, original.policy_id)
    held = session.scalars(
        sa.select(Policy)
        .where(Policy.person_id == person.id, Policy.cover_start <= day, Policy.cover_end >= day)
        .where(Policy.status.in_(COVERING))
        .order_by(Policy.cover_start.desc())
    ).all()
    for policy in held:
        if policy.status is PolicyStatus.ACTIVE or day < policy.status_date:
            return policy
    if held:
        what = "暂停" if held[0].status is PolicyStatus.SUSPENDED else "终止"
        message = f"保单 {held[0].policy_no} 自 {held[0].status_date} 起已{what}，入院日期 {day} 不在保障中"
        raise SettlementRefused(422, "no_active_policy", message, "setlinfo.begndate")
    raise SettlementRefused(
        422, "no_active_policy", f"{person.psn_no} 在 {day} 没有有效的惠民保保单", "setlinfo.begndate"
    )


def _lock(session: Session, policy: Policy) -> None:
    """Serialise the person's settlements on their policy row (PostgreSQL row lock; SQLite writers are
    serialised by the database itself)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.select(Policy.id).where(Policy.id == policy.id).with_for_update())


def insured_frame(held: list[tuple[InsuredPerson, Policy]]) -> pl.DataFrame:
    """The engine's insured persons from the roster and each one's policy (tier and cover period)."""
    return pl.DataFrame(
        {
            "psn_no": [p.psn_no for p, _ in held],
            "insutype": [p.insutype for p, _ in held],
            "birth_date": [p.birth_date for p, _ in held],
            "tier": [policy.tier for _, policy in held],
            "preexisting": [[] for _ in held],
            "populations": [list(p.population_tags) for p, _ in held],
            "cover_start": [policy.cover_start for _, policy in held],
            "cover_end": [policy.cover_end for _, policy in held],
            "insu_status": [p.insu_status.value for p, _ in held],
            "insu_status_date": [p.insu_status_date for p, _ in held],
        },
        schema={
            "psn_no": pl.Utf8, "insutype": pl.Utf8, "birth_date": pl.Date, "tier": pl.Utf8,
            "preexisting": pl.List(pl.Utf8), "populations": pl.List(pl.Utf8), "cover_start": pl.Date,
            "cover_end": pl.Date, "insu_status": pl.Utf8, "insu_status_date": pl.Date,
        },
    )  # fmt: skip


def _accumulators(session: Session, psn_no: str, plan_id: str, year: int) -> pl.DataFrame:
    rows = session.execute(
        sa.select(Accumulator.key, Accumulator.value).where(
            Accumulator.psn_no == psn_no, Accumulator.plan_id == plan_id, Accumulator.year == year
        )
    ).all()
    return pl.DataFrame(
        {"psn_no": [psn_no] * len(rows), "key": [k for k, _ in rows], "value": [v for _, v in rows]},
        schema={"psn_no": pl.Utf8, "key": pl.Utf8, "value": pl.Int64},
    )


def _save_accumulators(
    session: Session, psn_no: str, plan_id: str, year: int, prior: pl.DataFrame, state: dict[str, int]
) -> None:
    before = dict(zip(prior["key"].to_list(), prior["value"].to_list(), strict=True))
    for key, value in state.items():
        if key not in before:
            session.add(Accumulator(psn_no=psn_no, plan_id=plan_id, year=year, key=key, value=value))
        elif before[key] != value:
            session.execute(
                sa.update(Accumulator)
                .where(
                    Accumulator.psn_no == psn_no,
                    Accumulator.plan_id == plan_id,
                    Accumulator.year == year,
                    Accumulator.key == key,
                )
                .values(value=value)
            )


def _lines_of(original: Settlement) -> pl.DataFrame:
    return pl.DataFrame(
        [{"setl_id": original.setl_id, "liability": ln.liability, **{f: getattr(ln, f) for f in LINE_FIELDS}} for ln in original.lines],
        schema={"setl_id": pl.Utf8, "liability": pl.Utf8, **{f: pl.Int64 for f in LINE_FIELDS}},
    )  # fmt: skip


__all__ = ["Answer", "SettlementRefused", "canonical", "get_settlement_or_raise", "insured_frame", "settle"]
