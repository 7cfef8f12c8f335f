"""One-stop settlement at the hospital (INTERFACES.md): signed records in, the payout out, stored once.

The worked example is seed 001's stroke patient of ``settlement/example_case.json``: real time must pay
what the estimate (the same engine over the whole case) pays, settlement by settlement.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import secrets
import time
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from huiminbao.enrollment.models import Channel, Relation
from huiminbao.enrollment.purchase import Member, buy
from huiminbao.enrollment.roster_store import Keys, import_roster
from huiminbao.identity import audit
from huiminbao.identity.certno import make_certno
from huiminbao.identity.service import add_hospital
from huiminbao.plans import compiled_plan
from huiminbao.settlement.estimate import estimate
from huiminbao.settlement.models import Accumulator, Settlement
from tests.conftest import ROOT

PLAN = "liaocheng-2024"
HOSPITAL, OTHER = "H37150200001", "H37150200002"
HEADER = "psn_no,certno,psn_name,gend,brdy,insutype,insu_admdvs,psn_insu_stas,psn_insu_date,populations"
CASE = json.loads((ROOT / "src/huiminbao/settlement/example_case.json").read_text(encoding="utf-8"))
P1 = CASE["person"]["psn_no"]
P2 = "37150000000000000002"  # in the roster, no policy


def prepare(db: Any, tmp_path: Path, keys: Keys, pii_key: bytes) -> dict[str, str]:
    """The roster with P1 (insured, holding a Liaocheng 2024 policy) and P2 (no policy), and two
    hospitals; returns each hospital's signing secret."""
    rows = [
        f"{p},{make_certno('371502', date(1949, 12, 31), i)},参保人{i},1,1949-12-31,390,371502,1,2010-01-01,"
        for i, p in enumerate((P1, P2), start=1)
    ]
    (tmp_path / "roster.csv").write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    with db.session() as s:
        import_roster(session=s, path=tmp_path / "roster.csv", keys=keys, actor=audit.CLI, today=date(2023, 12, 1))
        buy(
            session=s, actor=audit.CLI, compiled=compiled_plan(PLAN), payer_psn_no=P1,
            members=[Member(P1, Relation.SELF)], channel=Channel.COUNTER, day=date(2023, 12, 1), paid=True,
        )  # fmt: skip
        return {
            code: add_hospital(session=s, actor=audit.CLI, key=pii_key, code=code, name=name, level=3)
            for code, name in ((HOSPITAL, "聊城市人民医院"), (OTHER, "聊城市第二人民医院"))
        }


@pytest.fixture
def hospital(client: TestClient, tmp_path: Path) -> dict[str, str]:
    settings = client.app.state.settings
    keys = Keys(encrypt=settings.pii_key_bytes, hash=settings.pii_hash_key_bytes)
    return prepare(client.app.state.db, tmp_path, keys, settings.pii_key_bytes)


def signed(client: TestClient, method: str, path: str, code: str, secret: str, body: dict | None = None) -> Any:
    raw = b"" if body is None else json.dumps(body, ensure_ascii=False).encode("utf-8")
    stamp, nonce = str(int(time.time())), secrets.token_hex(12)
    message = "\n".join([method, path, stamp, nonce, hashlib.sha256(raw).hexdigest()])
    sig = hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()
    headers = {"X-HMB-Hospital": code, "X-HMB-Timestamp": stamp, "X-HMB-Nonce": nonce, "X-HMB-Signature": sig}
    if body is not None:
        headers["Content-Type"] = "application/json"
    return client.request(method, path, content=raw, headers=headers)


def record(k: int, **changes: Any) -> dict[str, Any]:
    """The example case's k-th settlement as a one-stop body for P1."""
    s = copy.deepcopy(CASE["settlements"][k])
    feedetl, diseases = s.pop("feedetl", []), s.pop("diseases", [])
    setlinfo = {"psn_no": P1, "insutype": "390", **s, **changes}
    return {"setlinfo": setlinfo, "feedetl": feedetl, "diseases": diseases}


def refund_of(body: dict[str, Any], setl_id: str) -> dict[str, Any]:
    """The national refund record of ``body``: a new setl_id, flag 1, the original named, amounts negated."""
    info = dict(body["setlinfo"])
    for k, v in info.items():
        if k.endswith(("_amt", "_sumamt", "_pay", "_selfpay", "_dedc")) and v not in ("0.00", None):
            info[k] = f"-{v}"
    info.update(setl_id=setl_id, refd_setl_flag="1", init_setl_id=body["setlinfo"]["setl_id"])
    info["setl_time"] = "2024-07-01 09:00:00"
    return {"setlinfo": info, "feedetl": [], "diseases": body["diseases"]}


def post(client: TestClient, secrets_: dict[str, str], body: dict, code: str = HOSPITAL) -> Any:
    return signed(client, "POST", "/api/v1/settlements", code, secrets_[code], body)


def stored(client: TestClient) -> int:
    with client.app.state.db.session() as s:
        return s.scalar(sa.select(sa.func.count()).select_from(Settlement)) or 0


def test_real_time_pays_what_the_estimate_pays_settlement_by_settlement(client: TestClient, hospital: dict) -> None:
    expected = estimate({**CASE, "person": {**CASE["person"], "certno": None}})["settlements"]
    for k, want in enumerate(expected):
        res = post(client, hospital, record(k))
        assert res.status_code == 200, res.text
        got = res.json()
        assert (got["setl_id"], got["payout"], got["plan"], got["psn_no"]) == (
            want["setl_id"],
            want["payout"],
            PLAN,
            P1,
        )
        assert [ln["payout"] for ln in got["lines"]] == [ln["payout"] for ln in want["lines"]]
        assert [ln["reason"] for ln in got["lines"]] == [ln["reason"] for ln in want["lines"]]
        assert got["policy_no"].startswith("P2024") and got["remaining"]
    with client.app.state.db.session() as s:
        paid = s.scalar(sa.select(Accumulator.value).where(Accumulator.psn_no == P1, Accumulator.key == "paid"))
    total = sum(int(w["payout"].replace(".", "")) for w in expected)
    assert paid == total


def test_a_resend_answers_the_stored_bytes_and_pays_nothing_more(client: TestClient, hospital: dict) -> None:
    first = post(client, hospital, record(0))
    again = post(client, hospital, record(0))
    assert again.status_code == 200 and again.content == first.content
    assert again.headers.get("X-HMB-Replayed") == "true" and stored(client) == 1
    changed = post(client, hospital, record(0, psn_cash_pay="11999.99", acct_pay="0.01"))
    assert (changed.status_code, changed.json()["code"]) == (409, "setl_id_conflict")
    theirs = post(client, hospital, record(0, fixmedins_code=OTHER), code=OTHER)
    assert (theirs.status_code, theirs.json()["code"]) == (409, "setl_id_conflict")


def accumulators(client: TestClient) -> dict[str, int]:
    with client.app.state.db.session() as s:
        return dict(s.execute(sa.select(Accumulator.key, Accumulator.value).where(Accumulator.psn_no == P1)).all())


def test_a_refund_pays_back_exactly_and_releases_what_it_used(client: TestClient, hospital: dict) -> None:
    assert post(client, hospital, record(0)).status_code == 200
    before = accumulators(client)
    original = record(1)
    paid = post(client, hospital, original).json()
    assert paid["payout"] != "0.00"
    back = post(client, hospital, refund_of(original, "R0001"))
    assert back.status_code == 200, back.text
    assert back.json()["payout"] == f"-{paid['payout']}"
    assert [ln["payout"] for ln in back.json()["lines"]] == [
        "0.00" if ln["payout"] == "0.00" else f"-{ln['payout']}" for ln in paid["lines"]
    ]
    assert (
        accumulators(client) == before
        and back.json()["remaining"] == post(client, hospital, record(0)).json()["remaining"]
    )
    again = post(client, hospital, record(1, setl_id="371500202406200009"))
    assert again.json()["payout"] == paid["payout"], "the refund gave back what the original used"
    twice = post(client, hospital, refund_of(original, "R0002"))
    assert (twice.status_code, twice.json()["code"]) == (409, "already_refunded")
    unknown = post(client, hospital, refund_of(record(1, setl_id="NOPE"), "R0003"))
    assert (unknown.status_code, unknown.json()["code"], unknown.json()["field"]) == (
        422,
        "unknown_original",
        "setlinfo.init_setl_id",
    )


@pytest.mark.parametrize(
    ("changes", "code", "status", "field"),
    [
        ({"psn_no": "37159999999999999999"}, "unknown_person", 422, "setlinfo.psn_no"),
        ({"psn_no": P2}, "no_active_policy", 422, "setlinfo.begndate"),
        ({"begndate": "2023-06-01", "enddate": "2023-06-05", "setl_time": "2023-06-05 10:00:00"}, "no_active_policy", 422, "setlinfo.begndate"),
        ({"fixmedins_code": OTHER}, "not_own_settlement", 403, "setlinfo.fixmedins_code"),
        ({"medfee_sumamt": "32000.01"}, "invalid_record", 422, "medfee_sumamt"),
    ],
)  # fmt: skip
def test_bad_records_and_wrong_callers_are_refused_and_store_nothing(
    client: TestClient, hospital: dict, changes: dict, code: str, status: int, field: str
) -> None:
    res = post(client, hospital, record(0, **changes))
    assert (res.status_code, res.json()["code"], res.json()["field"]) == (status, code, field), res.text
    assert res.json()["message"] and stored(client) == 0


def test_a_settlement_is_read_by_its_hospital_and_staff_only(client: TestClient, hospital: dict, sign_in: Any) -> None:
    sent = post(client, hospital, record(0))
    path = "/api/v1/settlements/371500202403100001"
    mine = signed(client, "GET", path, HOSPITAL, hospital[HOSPITAL])
    assert mine.status_code == 200 and mine.content == sent.content
    theirs = signed(client, "GET", path, OTHER, hospital[OTHER])
    assert (theirs.status_code, theirs.json()["code"]) == (403, "not_own_settlement")
    assert client.get(path, headers=sign_in("adjuster")).content == sent.content
    assert client.get(path, headers=sign_in("hospital", hospital_code=OTHER)).status_code == 403
    assert client.get(path, headers=sign_in("resident", psn_no=P1)).status_code == 403
    assert client.get(path).status_code == 401
    missing = signed(client, "GET", "/api/v1/settlements/none", HOSPITAL, hospital[HOSPITAL])
    assert (missing.status_code, missing.json()["code"]) == (404, "settlement_not_found")


def scaled(k: int, factor: int) -> dict[str, Any]:
    """The example's first stay, ``factor`` times as dear, as the k-th stay of the year."""
    body = record(0)
    info = body["setlinfo"]
    for key, value in info.items():
        if isinstance(value, str) and key.endswith(("_amt", "_sumamt", "_pay", "_selfpay", "_dedc")):
            info[key] = f"{int(value.replace('.', '')) * factor / 100:.2f}"
    day = date(2024, 2, 1).toordinal() + 7 * k
    begin, end = date.fromordinal(day), date.fromordinal(day + 5)
    info.update(setl_id=f"S{k:04d}", begndate=str(begin), enddate=str(end), setl_time=f"{end} 10:{k % 60:02d}:00")
    return body


@pytest.mark.slow
@pytest.mark.postgres
def test_concurrent_sends_for_one_person_on_postgresql_never_overlap(pg_db_url: str, tmp_path: Path) -> None:
    """Eight connections send 24 dear stays of one person, each twice, in shuffled order: every stay is
    stored once, and the payouts are exactly the engine's over the stays in the order they were locked
    (settlement ids), so no deductible was used twice and no limit passed."""
    import random
    import threading

    import polars as pl

    from huiminbao.db import Database, migrate
    from huiminbao.engine.adjudicate import adjudicate
    from huiminbao.settlement.onestop import SettlementRefused, settle
    from huiminbao.settlement.reader import check_settlements, json_frame

    migrate.upgrade(pg_db_url)
    db = Database.from_url(pg_db_url, pool_size=10)
    key = bytes.fromhex("00112233445566778899aabbccddeeff")
    prepare(db, tmp_path, Keys(encrypt=key, hash=bytes.fromhex("11" * 16)), key)
    bodies = [scaled(k, 20) for k in range(24)]
    sends = bodies * 2
    random.Random(7).shuffle(sends)
    errors: list[Exception] = []

    def send(part: list[dict[str, Any]]) -> None:
        for body in part:
            try:
                with db.session() as s:
                    settle(session=s, actor=audit.CLI, hospital_code=HOSPITAL, body=body)
            except sa.exc.IntegrityError:  # the other send of the same stay committed first
                with db.session() as s:
                    assert settle(session=s, actor=audit.CLI, hospital_code=HOSPITAL, body=body).replayed
            except (SettlementRefused, AssertionError) as exc:
                errors.append(exc)

    try:
        threads = [threading.Thread(target=send, args=(sends[i::8],)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        with db.session() as s:
            done = s.execute(sa.select(Settlement.setl_id, Settlement.payout_fen).order_by(Settlement.id)).all()
            state = dict(s.execute(sa.select(Accumulator.key, Accumulator.value)).all())
    finally:
        db.dispose()
    assert sorted(setl for setl, _ in done) == sorted(b["setlinfo"]["setl_id"] for b in bodies)
    by_id = {b["setlinfo"]["setl_id"]: b for b in bodies}
    in_lock_order = [
        {**by_id[setl]["setlinfo"], "setl_time": f"2024-12-01 00:{i // 60:02d}:{i % 60:02d}", "diseases": ["I63.9"]}
        for i, (setl, _) in enumerate(done)
    ]
    insured = pl.DataFrame({"psn_no": [P1], "insutype": ["390"], "birth_date": [date(1949, 12, 31)]})
    batch = adjudicate(compiled_plan(PLAN), check_settlements(json_frame(in_lock_order), "结算"), insured)
    assert dict(done) == dict(batch.settlements.select("setl_id", "payout").iter_rows())
    assert state == dict(batch.accumulators.select("key", "value").iter_rows())


def test_a_policy_with_a_one_stop_payout_cannot_be_cancelled_for_a_refund(client: TestClient, hospital: dict) -> None:
    from huiminbao.enrollment.lifecycle import CancelRefused
    from huiminbao.flows.policies import cancel_policy
    from huiminbao.settlement.service import paid_to

    post(client, hospital, record(0))
    paid = post(client, hospital, record(1)).json()
    with client.app.state.db.session() as s:
        assert paid_to(session=s, plan_id=PLAN, psn_no=P1) == int(paid["payout"].replace(".", ""))
        with pytest.raises(CancelRefused, match=r"已赔付 3200\.00 元"):
            cancel_policy(session=s, actor=audit.CLI, policy_no=paid["policy_no"], day=date(2024, 8, 1))


def test_care_the_plan_does_not_cover_there_is_refused_and_filed_care_is_paid(
    client: TestClient, hospital: dict
) -> None:
    """Liaocheng 2025 (seed 004) pays out-of-province care only after filing: unfiled care in Beijing is
    refused with the plan's reason and stores nothing; the same stay filed is paid (worked example:
    (40,000 − 16,000) × 80% = 19,200)."""
    with client.app.state.db.session() as s:
        buy(
            session=s, actor=audit.CLI, compiled=compiled_plan("liaocheng-2025"), payer_psn_no=P2,
            members=[Member(P2, Relation.SELF)], channel=Channel.COUNTER, day=date(2024, 12, 1), paid=True,
        )  # fmt: skip
    stay = {
        "setl_id": "BJ0001", "psn_no": P2, "mdtrt_id": "BJ1", "med_type": "21", "insutype": "390",
        "begndate": "2025-03-01", "enddate": "2025-03-09", "setl_time": "2025-03-10 10:00:00",
        "medfee_sumamt": "100000.00", "inscp_scp_amt": "100000.00", "fulamt_ownpay_amt": "0.00",
        "overlmt_selfpay": "0.00", "preselfpay_amt": "0.00", "hifp_pay": "60000.00", "fund_pay_sumamt": "60000.00",
        "psn_part_amt": "40000.00", "fixmedins_code": HOSPITAL, "insu_admdvs": "371502",
        "mdtrt_area_admvs": "110105", "refd_setl_flag": "0",
    }  # fmt: skip
    res = post(client, hospital, {"setlinfo": stay, "feedetl": [], "diseases": ["I63.9"]})
    assert (res.status_code, res.json()["code"], res.json()["field"]) == (
        422,
        "place_not_covered",
        "setlinfo.mdtrt_area_admvs",
    ), res.text
    assert "未办理异地就医备案" in res.json()["message"] and stored(client) == 0
    filed = {**stay, "setl_id": "BJ0002", "out_area_filed": True}
    paid = post(client, hospital, {"setlinfo": filed, "feedetl": [], "diseases": ["I63.9"]})
    assert (paid.status_code, paid.json()["payout"]) == (200, "19200.00"), paid.text
    near = {**stay, "setl_id": "LC0003", "mdtrt_area_admvs": "371502"}
    assert post(client, hospital, {"setlinfo": near, "feedetl": [], "diseases": ["I63.9"]}).status_code == 200


def test_a_batch_answers_each_item_as_alone_and_stores_only_the_good(client: TestClient, hospital: dict) -> None:
    """``settle_many``: one transaction and one engine call, but each item its own outcome."""
    from huiminbao.settlement.onestop import Answer, Item, SettlementRefused, settle_many
    from huiminbao.settlement.reader import RecordError

    bad = record(1, psn_no="37150000000000000003", medfee_sumamt="1.00")
    stranger = record(1, psn_no="37159999999999999999", setl_id="S-STRANGER")
    uninsured = record(1, psn_no=P2, setl_id="S-P2")
    items = [Item(audit.CLI, HOSPITAL, b) for b in (record(0), bad, stranger, uninsured)]
    with client.app.state.db.session() as s:
        good, refused_bad, refused_stranger, refused_uninsured = settle_many(session=s, items=items)
    assert isinstance(good, Answer) and not good.replayed
    assert isinstance(refused_bad, RecordError) and refused_bad.field == "medfee_sumamt"
    assert isinstance(refused_stranger, SettlementRefused) and refused_stranger.code == "unknown_person"
    assert isinstance(refused_uninsured, SettlementRefused) and refused_uninsured.code == "no_active_policy"
    alone = post(client, hospital, record(0))
    assert alone.headers.get("X-HMB-Replayed") == "true" and alone.content == good.body and stored(client) == 1


def test_a_replayed_signed_request_is_refused_even_when_it_was_settled(client: TestClient, hospital: dict) -> None:
    """The nonce is recorded with the batch the settlement is settled in: the same signed request sent
    again is refused as a replay (a new signature of the same body is answered from the store)."""
    from huiminbao.settlement.sender import PATH, signed_headers

    raw = json.dumps(record(0), ensure_ascii=False).encode("utf-8")
    headers = signed_headers(HOSPITAL, hospital[HOSPITAL], "POST", PATH, raw) | {"Content-Type": "application/json"}
    first = client.post("/api/v1/settlements", content=raw, headers=headers)
    again = client.post("/api/v1/settlements", content=raw, headers=headers)
    assert first.status_code == 200 and (again.status_code, again.json()["code"]) == (401, "nonce_reused")
    assert post(client, hospital, record(0)).headers.get("X-HMB-Replayed") == "true" and stored(client) == 1
