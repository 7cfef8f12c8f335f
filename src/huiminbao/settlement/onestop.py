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

import functools
import hashlib
import json
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import polars as pl
import sqlalchemy as sa
from sqlalchemy.orm import Session

from huiminbao.db.base import utcnow
from huiminbao.engine.adjudicate import adjudicate
from huiminbao.engine.place import uncovered_place
from huiminbao.engine.prepare import Status
from huiminbao.engine.reference import record_context
from huiminbao.engine.remaining import remaining
from huiminbao.engine.rules import tier_rules
from huiminbao.engine.run import sized
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


@dataclass(frozen=True)
class Item:
    """One settlement to make: who sent it, from where, and the body as sent."""

    actor: audit.Actor
    hospital_code: str
    body: Mapping[str, Any]
    source: SettlementSource = SettlementSource.API
    nonce: tuple[str, str] | None = None  # a signed request's (hospital, nonce): recorded with the batch


Outcome = Answer | SettlementRefused | RecordError


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
    (out,) = settle_many(session=session, items=[Item(actor, hospital_code, body, source)])
    if isinstance(out, Exception):
        raise out
    return out


def settle_many(*, session: Session, items: list[Item]) -> list[Outcome]:
    """Settle several records in one transaction and one engine call: what each of them would get alone,
    in order, because no two of them name the same person or ``setl_id`` (callers batch so; a later
    record of a person waits for the next batch). Each item gets its answer or its refusal; a refused
    item writes nothing. The engine's cost is nearly all per call, not per record, so a batch of dozens
    costs about what one record does."""
    keys = [batch_key(it.body) for it in items]
    assert sum(map(len, keys)) == len(frozenset().union(*keys)), "one person and setl_id per batch"
    out: list[Outcome | None] = [None] * len(items)
    todo: dict[int, _Pending] = {}
    for i, it in enumerate(items):
        try:
            todo[i] = _pending(it)
        except RecordError as exc:
            out[i] = exc
    _answer_stored(session, todo, out)
    for i, p in list(todo.items()):
        if str(p.setlinfo.get("fixmedins_code") or "") != p.item.hospital_code:
            out[i] = SettlementRefused(
                403, "not_own_settlement", f"结算的定点医药机构编号不是本院（{p.item.hospital_code}）",
                "setlinfo.fixmedins_code",
            )  # fmt: skip
            del todo[i]
    with sized(len(todo)):  # a batch is a few rows: the reader's queries run in memory
        checked = _check_records(todo, out)
    _find_policies(session, todo, out)
    if todo:
        lock_policies(session, Policy.id.in_({p.policy.id for p in todo.values() if p.policy is not None}))
    _answer_stored(session, todo, out)  # a racing send of the same setl_id committed first
    for i, p in list(todo.items()):
        if p.original is not None:
            session.refresh(p.original)
            if p.original.refunded_by is not None:
                out[i] = SettlementRefused(
                    409, "already_refunded", f"原结算 {p.original.setl_id} 已由 {p.original.refunded_by} 退费",
                    "setlinfo.init_setl_id",
                )  # fmt: skip
                del todo[i]
    by_plan: dict[str, dict[int, _Pending]] = defaultdict(dict)
    for i, p in todo.items():
        assert p.policy is not None
        by_plan[p.policy.plan_id][i] = p
    for plan_id, group in by_plan.items():
        _adjudicate(session, plan_id, group, checked, out)
    session.flush()
    for p in todo.values():
        if p.answer is not None:
            audit.record(
                session=session, actor=p.item.actor, action="settlement.refund" if p.refund else "settlement.pay",
                entity="settlement", entity_id=p.setl_id,
                after={"hospital": p.item.hospital_code, "plan": p.answer.settlement.plan_id,
                       "payout": to_yuan(p.answer.settlement.payout_fen)},
            )  # fmt: skip
    assert all(o is not None for o in out)
    return out  # type: ignore[return-value]


@dataclass
class _Pending:
    """An item on its way: parsed, then checked, then matched to its person and policy."""

    item: Item
    setl_id: str
    setlinfo: dict[str, Any]
    feedetl: list[dict[str, Any]]
    diseases: list[str]
    record: str
    digest: str
    rec: dict[str, Any] | None = None
    person: InsuredPerson | None = None
    policy: Policy | None = None
    original: Settlement | None = None
    answer: Answer | None = None

    @property
    def refund(self) -> bool:
        return self.rec is not None and self.rec["refd_setl_flag"] == REFUND_FLAG


def batch_key(body: Mapping[str, Any]) -> frozenset[tuple[str, str]]:
    """What a batch must not hold twice: the person and the settlement id (as sent, before any check)."""
    info = body.get("setlinfo") if isinstance(body, Mapping) else None
    info = info if isinstance(info, Mapping) else {}
    return frozenset({("psn_no", str(info.get("psn_no") or "")), ("setl_id", str(info.get("setl_id") or ""))})


def _pending(it: Item) -> _Pending:
    setlinfo, feedetl, diseases = body_parts(it.body)
    setl_id = str(setlinfo.get("setl_id") or "")
    if not setl_id:
        raise RecordError("结算信息", "setlinfo.setl_id", f"缺少{label('setl_id')}")
    record = canonical(it.body)
    digest = hashlib.sha256(record.encode("utf-8")).hexdigest()
    return _Pending(it, setl_id, setlinfo, feedetl, diseases, record, digest)


def _answer_stored(session: Session, todo: dict[int, _Pending], out: list[Outcome | None]) -> None:
    """Items already settled are answered from the store (or refused when the body differs)."""
    if not todo:
        return
    found = {
        s.setl_id: s
        for s in session.scalars(
            sa.select(Settlement).where(Settlement.setl_id.in_([p.setl_id for p in todo.values()]))
        )
    }
    for i, p in list(todo.items()):
        if (done := found.get(p.setl_id)) is not None:
            out[i] = _replay(done, p.digest, p.item.hospital_code)
            del todo[i]


def _replay(found: Settlement, digest: str, hospital_code: str) -> Outcome:
    if found.source is SettlementSource.CLAIM:  # paid on a claim: a hospital's late send pays nothing more
        return SettlementRefused(
            409, "already_claimed", f"结算 {found.setl_id} 已在理赔申请中赔付，不能再一站式结算", "setlinfo.setl_id"
        )
    if found.hospital_code != hospital_code:
        return SettlementRefused(409, "setl_id_conflict", f"结算 {found.setl_id} 已由其他机构提交", "setlinfo.setl_id")
    if found.body_sha256 != digest:
        return SettlementRefused(
            409, "setl_id_conflict", f"结算 {found.setl_id} 已以不同内容提交过", "setlinfo.setl_id"
        )
    return Answer(found, found.response.encode("utf-8"), replayed=True)


def _check_records(todo: dict[int, _Pending], out: list[Outcome | None]) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """The reader's checks over all items at once; when one fails, each item alone, so that only the bad
    ones are refused. Returns the checked settlements and fee lines of the good ones."""
    try:
        return _checked(todo)
    except RecordError as exc:
        if len(todo) == 1:
            (i,) = todo
            out[i] = exc
            del todo[i]
        else:
            for i, p in list(todo.items()):
                try:
                    _checked({i: p})
                except RecordError as alone:
                    out[i] = alone
                    del todo[i]
    return _checked(todo)


def _checked(todo: dict[int, _Pending]) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    rows = [{**p.setlinfo, "diseases": p.diseases} for p in todo.values()]
    if not rows:
        return json_frame([]).collect(), None
    fees = [{"setl_id": p.setl_id, **ln} for p in todo.values() for ln in p.feedetl]
    settlements = check_settlements(json_frame(rows), "结算信息")
    fee_lines = check_fee_lines(json_frame(fees), "费用明细") if fees else None
    by_id = {p.setl_id: p for p in todo.values()}
    for rec in settlements.iter_rows(named=True):
        by_id[rec["setl_id"]].rec = rec
    return settlements, fee_lines


def _find_policies(session: Session, todo: dict[int, _Pending], out: list[Outcome | None]) -> None:
    """Each item's person (refused when not in the roster), a refund's original, and the covering policy."""
    numbers = {p.rec["psn_no"] for p in todo.values() if p.rec is not None}
    persons = {x.psn_no: x for x in session.scalars(sa.select(InsuredPerson).where(InsuredPerson.psn_no.in_(numbers)))}
    inits = [p.rec["init_setl_id"] for p in todo.values() if p.refund]
    originals = (
        {x.setl_id: x for x in session.scalars(sa.select(Settlement).where(Settlement.setl_id.in_(inits)))}
        if inits
        else {}
    )
    held: dict[int, list[Policy]] = defaultdict(list)
    ids = [x.id for x in persons.values()]
    for policy in session.scalars(
        sa.select(Policy)
        .where(Policy.person_id.in_(ids), Policy.status.in_(COVERING))
        .order_by(Policy.cover_start.desc())
    ):
        held[policy.person_id].append(policy)
    for i, p in list(todo.items()):
        assert p.rec is not None
        try:
            p.person = persons.get(p.rec["psn_no"])
            if p.person is None:
                raise SettlementRefused(
                    422, "unknown_person", f"{label('psn_no')} {p.rec['psn_no']} 不在参保名册中", "setlinfo.psn_no"
                )
            if p.refund:
                p.original = _original(originals.get(p.rec["init_setl_id"]), p.rec, p.person)
                p.policy = session.get_one(Policy, p.original.policy_id)
            else:
                p.policy = policy_on(held[p.person.id], p.person, p.rec["begndate"])
        except SettlementRefused as exc:
            out[i] = exc
            del todo[i]


def _adjudicate(
    session: Session,
    plan_id: str,
    group: dict[int, _Pending],
    checked: tuple[pl.DataFrame, pl.DataFrame | None],
    out: list[Outcome | None],
) -> None:
    """One engine call for the items of one plan, with the persons' stored accumulators as prior state."""
    compiled = compiled_plan(plan_id)
    year = compiled.plan.year
    pairs = [(p.person, p.policy) for p in group.values()]
    insured = insured_frame(pairs)  # type: ignore[arg-type]
    people = {row["psn_no"]: row for row in insured.iter_rows(named=True)}
    rules_of = functools.cache(lambda tier: tier_rules(compiled, tier))
    contexts = {
        i: record_context(compiled.plan.cover_start, p.rec, people[p.rec["psn_no"]], Status.COVERED)  # type: ignore[index]
        for i, p in group.items()
    }
    for i, p in list(group.items()):
        assert p.rec is not None and p.policy is not None
        if p.original is None and (place := uncovered_place(rules_of(p.policy.tier), contexts[i])) is not None:
            out[i] = SettlementRefused(422, "place_not_covered", place[1], f"setlinfo.{place[0]}")
            del group[i]
    if not group:
        return
    ids = [p.setl_id for p in group.values()]
    settlements = checked[0].filter(pl.col("setl_id").is_in(ids))
    fee_lines = checked[1].filter(pl.col("setl_id").is_in(ids)) if checked[1] is not None else None
    if len(group) < len(pairs):
        insured = insured.filter(pl.col("psn_no").is_in([p.rec["psn_no"] for p in group.values()]))  # type: ignore[index]
    prior, ids_of = _accumulators(session, insured["psn_no"].to_list(), plan_id, year)
    originals = [p.original for p in group.values() if p.original is not None]
    prior_lines = _lines_of(originals) if originals else None
    result = adjudicate(compiled, settlements, insured, fee_lines, prior, prior_lines, explain=True)
    outs = {row["setl_id"]: row for row in result.settlements.iter_rows(named=True)}
    lines_of = result.lines.partition_by("setl_id", as_dict=True, maintain_order=True)
    states: dict[str, dict[str, int]] = defaultdict(dict)
    for psn, key, value in result.accumulators.select("psn_no", "key", "value").iter_rows():
        states[psn][key] = value
    _save_accumulators(session, plan_id, year, prior, ids_of, states)
    for i, p in group.items():
        assert p.rec is not None and p.person is not None and p.policy is not None
        row = outs[p.setl_id]
        if row["status"] == Status.NOT_INSURED.value:  # cannot happen after the roster check; never pay blind
            out[i] = SettlementRefused(422, "unknown_person", f"{p.rec['psn_no']} 未参保", "setlinfo.psn_no")
            continue
        rules = rules_of(row["tier"])
        left = remaining(rules, contexts[i], states[p.person.psn_no])
        names = {x.id: x.name for x in rules.liabilities}
        lines = lines_of[(p.setl_id,)].to_dicts()
        answer = {
            "setl_id": p.setl_id, "psn_no": p.person.psn_no, "plan": plan_id, "tier": row["tier"],
            "policy_no": p.policy.policy_no, "payout": to_yuan(row["payout"]), "status": row["status"],
            "reason": row["reason"], "lines": [explain_line(ln, names) for ln in lines],
            "remaining": {k: to_yuan(v) for k, v in left.items()},
        }  # fmt: skip
        response = json.dumps(answer, ensure_ascii=False, separators=(",", ":"))
        stored = Settlement(
            setl_id=p.setl_id, hospital_code=p.item.hospital_code, person_id=p.person.id, plan_id=plan_id,
            policy_id=p.policy.id, tier=row["tier"], kind=SettlementKind.REFUND if p.refund else SettlementKind.PAYMENT,
            source=p.item.source, setl_time=p.rec["setl_time"], begndate=p.rec["begndate"],
            init_setl_id=p.original.setl_id if p.original is not None else None, status=row["status"],
            payout_fen=row["payout"], body_sha256=p.digest, record=p.record, response=response,
            lines=[SettlementLine(liability=ln["liability"], reason=ln["reason"], **{f: ln[f] for f in LINE_FIELDS}) for ln in lines],
        )  # fmt: skip
        session.add(stored)
        if p.original is not None:
            p.original.refunded_by = p.setl_id
        p.answer = out[i] = Answer(stored, response.encode("utf-8"), replayed=False)


def get_settlement_or_raise(*, session: Session, setl_id: str) -> Settlement:
    found = session.scalars(sa.select(Settlement).where(Settlement.setl_id == setl_id)).one_or_none()
    if found is None:
        raise SettlementRefused(404, "settlement_not_found", f"没有结算 {setl_id}", "setl_id")
    return found


def body_parts(body: Mapping[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]], list[str]]:
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


def _original(original: Settlement | None, rec: dict[str, Any], person: InsuredPerson) -> Settlement:
    init = rec["init_setl_id"]
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


def policy_on(held: list[Policy], person: InsuredPerson, day: date) -> Policy:
    """The person's policy (``held``: theirs, latest cover first) whose cover period holds the admission
    date and that was not suspended or ended before it."""
    held = [x for x in held if x.cover_start <= day <= x.cover_end]
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


def lock_policies(session: Session, which: sa.ColumnElement[bool]) -> None:
    """Serialise each person's settlements on their policy row (``which`` picks the rows): PostgreSQL row
    locks, taken in id order so that two holders never wait on each other in a circle; SQLite writers are
    serialised by the database. The one-stop path and year-end both take them."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.select(Policy.id).where(which).order_by(Policy.id).with_for_update())


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


def _accumulators(
    session: Session, persons: list[str], plan_id: str, year: int
) -> tuple[pl.DataFrame, dict[tuple[str, str], int]]:
    """The persons' stored accumulators as the engine's prior state, and each row's id."""
    rows = session.execute(
        sa.select(Accumulator.id, Accumulator.psn_no, Accumulator.key, Accumulator.value).where(
            Accumulator.psn_no.in_(persons), Accumulator.plan_id == plan_id, Accumulator.year == year
        )
    ).all()
    prior = pl.DataFrame(
        [(psn, key, value) for _, psn, key, value in rows],
        schema={"psn_no": pl.Utf8, "key": pl.Utf8, "value": pl.Int64},
        orient="row",
    )
    return prior, {(psn, key): id_ for id_, psn, key, _ in rows}


def _save_accumulators(
    session: Session,
    plan_id: str,
    year: int,
    prior: pl.DataFrame,
    ids: dict[tuple[str, str], int],
    states: dict[str, dict[str, int]],
) -> None:
    """The changed accumulators: new rows inserted, changed ones updated by id, in one statement each."""
    before = {(psn, key): value for psn, key, value in prior.iter_rows()}
    new, changed = [], []
    for psn, state in states.items():
        for key, value in state.items():
            if (psn, key) not in before:
                new.append({"psn_no": psn, "plan_id": plan_id, "year": year, "key": key, "value": value})
            elif before[(psn, key)] != value:
                changed.append({"id": ids[(psn, key)], "value": value, "updated_at": utcnow()})
    if new:
        session.execute(sa.insert(Accumulator), new)
    if changed:
        session.execute(sa.update(Accumulator), changed)


def _lines_of(originals: list[Settlement]) -> pl.DataFrame:
    return pl.DataFrame(
        [{"setl_id": o.setl_id, "liability": ln.liability, **{f: getattr(ln, f) for f in LINE_FIELDS}} for o in originals for ln in o.lines],
        schema={"setl_id": pl.Utf8, "liability": pl.Utf8, **{f: pl.Int64 for f in LINE_FIELDS}},
    )  # fmt: skip


__all__ = [
    "COVERING",
    "Answer",
    "Item",
    "Outcome",
    "SettlementRefused",
    "batch_key",
    "body_parts",
    "canonical",
    "get_settlement_or_raise",
    "insured_frame",
    "lock_policies",
    "policy_on",
    "settle",
    "settle_many",
]  # fmt: skip
