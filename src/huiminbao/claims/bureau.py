"""The bureau's settlement records, kept so that a claim can pick stays instead of having them typed.

The bureau's data (the national platform's settlement records of the city's insured persons) arrives as
the one-stop API's bodies, one per settlement, from a file (``hmb bureau import``) or the bureau's feed.
Each body goes through the same reader checks as a one-stop settlement; a record that fails, or names a
person not in the roster, is refused with its field and nothing of it is kept. A record already kept is
left as it is when the same body comes again and refused when another body comes with its ``setl_id``.
Refunds are not kept: a stay the hospital refunded is not claimable, and a refund of a stay already paid
goes through one-stop settlement, which reverses the payment.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from huiminbao.claims.models import BureauRecord
from huiminbao.engine.run import sized
from huiminbao.enrollment.models import InsuredPerson
from huiminbao.identity import audit
from huiminbao.settlement.onestop import body_parts, canonical
from huiminbao.settlement.reader import RecordError, check_fee_lines, check_settlements, json_frame
from huiminbao.vocabulary import REFUND_FLAG, label


@dataclass
class BureauImport:
    stored: int = 0
    unchanged: int = 0
    refused: list[dict[str, Any]] = field(default_factory=list)  # index, setl_id, field, message

    def summary(self) -> dict[str, int]:
        return {"stored": self.stored, "unchanged": self.unchanged, "refused": len(self.refused)}


@dataclass
class _Body:
    index: int
    setl_id: str
    setlinfo: dict[str, Any]
    feedetl: list[dict[str, Any]]
    diseases: list[str]
    record: str
    digest: str
    rec: dict[str, Any] | None = None


def record_bodies(*, session: Session, actor: audit.Actor, bodies: Sequence[Mapping[str, Any]]) -> BureauImport:
    """Keep the bureau's records (``bodies`` as the one-stop API takes them); refuse each bad one with
    its field. Never commits."""
    result = BureauImport()
    todo: dict[int, _Body] = {}
    for i, body in enumerate(bodies):
        try:
            setlinfo, feedetl, diseases = body_parts(body)
            setl_id = str(setlinfo.get("setl_id") or "")
            if not setl_id:
                raise RecordError("结算信息", "setlinfo.setl_id", f"缺少{label('setl_id')}")
            record = canonical(body)
            todo[i] = _Body(i, setl_id, setlinfo, feedetl, diseases, record, _sha256(record))
        except RecordError as exc:
            result.refused.append(_refusal(i, None, exc.field, str(exc)))
    with sized(len(todo)):
        _check(todo, result)
    seen: dict[str, _Body] = {}
    for i, b in list(todo.items()):
        if b.setl_id in seen:
            result.refused.append(_refusal(i, b.setl_id, "setlinfo.setl_id", f"结算 {b.setl_id} 在本批中重复"))
            del todo[i]
        seen[b.setl_id] = b
    kept = {
        r.setl_id: r.body_sha256
        for r in session.execute(
            sa.select(BureauRecord.setl_id, BureauRecord.body_sha256).where(
                BureauRecord.setl_id.in_([b.setl_id for b in todo.values()])
            )
        )
    }
    numbers = {b.rec["psn_no"] for b in todo.values() if b.rec is not None}
    persons: dict[str, int] = {
        psn: id_
        for psn, id_ in session.execute(
            sa.select(InsuredPerson.psn_no, InsuredPerson.id).where(InsuredPerson.psn_no.in_(numbers))
        )
    }
    rows = []
    for i, b in todo.items():
        assert b.rec is not None
        if b.setl_id in kept:
            if kept[b.setl_id] == b.digest:
                result.unchanged += 1
            else:
                result.refused.append(
                    _refusal(i, b.setl_id, "setlinfo.setl_id", f"结算 {b.setl_id} 已以不同内容导入过")
                )
            continue
        if b.rec["refd_setl_flag"] == REFUND_FLAG:
            result.refused.append(
                _refusal(
                    i, b.setl_id, "setlinfo.refd_setl_flag", "退费结算不可申请理赔；已赔付的结算请经一站式结算退费"
                )
            )
            continue
        person_id = persons.get(b.rec["psn_no"])
        if person_id is None:
            message = f"{label('psn_no')} {b.rec['psn_no']} 不在参保名册中"
            result.refused.append(_refusal(i, b.setl_id, "setlinfo.psn_no", message))
            continue
        rows.append(_row(b, person_id))
    if rows:
        session.execute(sa.insert(BureauRecord), rows)
        result.stored = len(rows)
        audit.record(
            session=session, actor=actor, action="bureau.import", entity="bureau_record",
            entity_id=f"{rows[0]['setl_id']}..{rows[-1]['setl_id']}", after=result.summary(),
        )  # fmt: skip
    return result


def _row(b: _Body, person_id: int) -> dict[str, Any]:
    rec = b.rec
    assert rec is not None
    return {
        "setl_id": b.setl_id, "person_id": person_id, "hospital_code": rec["fixmedins_code"] or "",
        "med_type": rec["med_type"] or "", "begndate": rec["begndate"], "enddate": rec["enddate"],
        "setl_time": rec["setl_time"], "medfee_sumamt_fen": rec["medfee_sumamt"] or 0,
        "psn_part_amt_fen": rec["psn_part_amt"] or 0,
        "out_of_area": bool(rec["mdtrt_area_admvs"]) and rec["mdtrt_area_admvs"] != rec["insu_admdvs"],
        "record": b.record, "body_sha256": b.digest,
    }  # fmt: skip


def _check(todo: dict[int, _Body], result: BureauImport) -> None:
    """The reader's checks over all bodies at once; when one fails, each alone, so only the bad are refused."""
    try:
        _checked(todo)
        return
    except RecordError:
        pass
    for i, b in list(todo.items()):
        try:
            _checked({i: b})
        except RecordError as exc:
            result.refused.append(_refusal(i, b.setl_id, exc.field, str(exc)))
            del todo[i]


def _checked(todo: dict[int, _Body]) -> None:
    if not todo:
        return
    rows = [{**b.setlinfo, "diseases": b.diseases} for b in todo.values()]
    settlements = check_settlements(json_frame(rows), "结算信息")
    fees = [{"setl_id": b.setl_id, **ln} for b in todo.values() for ln in b.feedetl]
    if fees:
        check_fee_lines(json_frame(fees), "费用明细")
    by_id = {b.setl_id: b for b in todo.values()}
    for rec in settlements.iter_rows(named=True):
        by_id[rec["setl_id"]].rec = rec


def _refusal(index: int, setl_id: str | None, field_: str | None, message: str) -> dict[str, Any]:
    return {"index": index, "setl_id": setl_id, "field": field_, "message": message}


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
