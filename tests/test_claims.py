"""Claims at the service level: filing from the bureau's records, the state machine, the clock, the lock,
and approval paying exactly what one-stop settlement pays (the same engine, the same accumulators)."""

from __future__ import annotations

import itertools
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from huiminbao.calendar import default_calendar
from huiminbao.claims import review
from huiminbao.claims.bureau import record_bodies
from huiminbao.claims.models import Claim, ClaimChannel, ClaimState, ItemDecision, RejectReason
from huiminbao.claims.review import Decision
from huiminbao.claims.service import ClaimRefused, file_claim, get_claim_or_raise, move, reject, stays
from huiminbao.claims.states import ALLOWED, IllegalTransition, check
from huiminbao.db import migrate
from huiminbao.db.session import Database
from huiminbao.enrollment.models import InsuredPerson
from huiminbao.enrollment.roster_store import Keys
from huiminbao.identity import audit
from huiminbao.identity.models import Role, User
from huiminbao.identity.service import create_user
from huiminbao.notify.models import Outbox
from huiminbao.settings import Settings
from huiminbao.settlement.estimate import estimate
from huiminbao.settlement.models import Accumulator, Settlement, SettlementSource
from huiminbao.settlement.onestop import settle
from tests.test_onestop import CASE, HOSPITAL, P1, P2, prepare, record

DAY = date(2024, 7, 1)  # a Monday
PASSWORD = "Claims-test-2024!"


@pytest.fixture
def db(db_url: str, tmp_path: Path) -> Any:
    migrate.upgrade(db_url)
    database = Database.from_url(db_url)
    settings = Settings(var_dir=tmp_path / "var")
    prepare(database, tmp_path, Keys(settings.pii_key_bytes, settings.pii_hash_key_bytes), settings.pii_key_bytes)
    with database.session() as s:
        result = record_bodies(session=s, actor=audit.CLI, bodies=[record(0), record(1)])
        assert result.summary() == {"stored": 2, "unchanged": 0, "refused": 0}
        for name, role, psn in (
            ("p1", Role.RESIDENT, P1),
            ("adj-a", Role.ADJUSTER, None),
            ("adj-b", Role.ADJUSTER, None),
        ):
            create_user(session=s, actor=audit.CLI, username=name, role=role, password=PASSWORD, psn_no=psn, insurer_code=None if psn else "DEMO-A")  # fmt: skip
        create_user(session=s, actor=audit.CLI, username="fin", role=Role.FINANCE, password=PASSWORD, insurer_code="DEMO-A")  # fmt: skip
    yield database
    database.dispose()


S1, S2 = (CASE["settlements"][k]["setl_id"] for k in (0, 1))


def user(s: Any, name: str) -> User:
    return s.scalars(sa.select(User).where(User.username == name)).one()


def actor(u: User) -> audit.Actor:
    return audit.Actor(u.username, u.role.value)


def filed(s: Any, setl_ids: list[str], today: date = DAY) -> Claim:
    me = user(s, "p1")
    return file_claim(session=s, user=me, actor=actor(me), psn_no=P1, setl_ids=setl_ids, channel=ClaimChannel.ONLINE, today=today)  # fmt: skip


def taken(s: Any, claim: Claim, name: str = "adj-a", today: date = DAY) -> User:
    adj = user(s, name)
    review.take(session=s, claim=claim, user=adj, actor=actor(adj), today=today)
    return adj


def test_the_bureau_records_are_checked_and_kept_once(db: Any) -> None:
    bad = record(0, setl_id="X1", medfee_sumamt="1.00")
    stranger = record(0, setl_id="X2", psn_no="99999999999999999999")
    with db.session() as s:
        result = record_bodies(
            session=s, actor=audit.CLI, bodies=[record(0), bad, stranger, record(0, setl_id=S1, mdtrt_id="M9")]
        )
    assert result.stored == 0 and result.unchanged == 1
    refused = {r["setl_id"]: r for r in result.refused}
    assert {k: r["field"] for k, r in refused.items() if k != "X1"} == {"X2": "setlinfo.psn_no", S1: "setlinfo.setl_id"}
    assert "medfee_sumamt" in refused["X1"]["message"]


def test_a_claim_picks_the_persons_stays_and_is_due_seven_working_days_later(db: Any) -> None:
    with db.session() as s:
        person = s.scalars(sa.select(InsuredPerson).where(InsuredPerson.psn_no == P1)).one()
        listed = stays(session=s, person=person, start=date(2024, 1, 1), end=date(2024, 12, 31))
        assert [x.record.setl_id for x in listed] == [S2, S1] and all(x.taken_by is None for x in listed)
        claim = filed(s, [S1, S2])
        assert claim.state is ClaimState.SUBMITTED and claim.claim_no.startswith("LP20240701")
        assert claim.due_date == date(2024, 7, 10)  # Tue 2 .. Wed 10: seven working days, the day filed not counted
        assert claim.claimed_fen == 2_200_000
        no = claim.claim_no
    with db.session() as s:
        assert [t.to_state for t in get_claim_or_raise(session=s, claim_no=no).transitions] == [ClaimState.SUBMITTED]
        assert s.scalar(sa.select(sa.func.count()).select_from(Outbox).where(Outbox.psn_no == P1)) == 1


def test_a_stay_paid_one_stop_or_held_by_another_claim_cannot_be_claimed(db: Any) -> None:
    with db.session() as s:
        settle(session=s, actor=audit.CLI, hospital_code=HOSPITAL, body=record(0))
    with db.session() as s:
        with pytest.raises(ClaimRefused) as one_stop:
            filed(s, [S1])
        assert one_stop.value.code == "already_claimed" and "一站式结算" in one_stop.value.message
        first = filed(s, [S2])
    with db.session() as s:
        with pytest.raises(ClaimRefused) as again:
            filed(s, [S2])
        assert first.claim_no in again.value.message
        claim = get_claim_or_raise(session=s, claim_no=first.claim_no)
        reject(session=s, claim=claim, actor=audit.CLI, code=RejectReason.DOCUMENTS_INVALID, note=None, today=DAY)
    with db.session() as s:
        assert filed(s, [S2]).state is ClaimState.SUBMITTED  # a rejected claim frees its stays


def test_another_persons_stay_and_an_unknown_one_are_refused(db: Any) -> None:
    with db.session() as s:
        with pytest.raises(ClaimRefused) as unknown:
            filed(s, ["NOPE"])
        assert unknown.value.code == "unknown_stay"
        me = user(s, "p1")
        with pytest.raises(ClaimRefused) as stranger:
            file_claim(session=s, user=me, actor=actor(me), psn_no=P2, setl_ids=[S1], channel=ClaimChannel.ONLINE, today=DAY)  # fmt: skip
        assert stranger.value.status == 404


@pytest.mark.parametrize(("current", "wanted"), list(itertools.product(ClaimState, ClaimState)))
def test_only_the_tables_transitions_are_allowed(current: ClaimState, wanted: ClaimState) -> None:
    if wanted in ALLOWED[current]:
        check(current, wanted)
    else:
        with pytest.raises(IllegalTransition):
            check(current, wanted)


def test_an_illegal_transition_is_refused_and_changes_nothing(db: Any) -> None:
    with db.session() as s:
        claim = filed(s, [S1])
        with pytest.raises(ClaimRefused) as exc:
            move(session=s, claim=claim, to=ClaimState.PAID, actor=audit.CLI, today=DAY)
        assert exc.value.code == "illegal_transition" and "已提交" in exc.value.message
        assert claim.state is ClaimState.SUBMITTED and len(claim.transitions) == 1


def test_two_adjusters_cannot_decide_the_same_claim(db: Any) -> None:
    with db.session() as s:
        no = filed(s, [S1]).claim_no
    with db.session() as s:
        claim = get_claim_or_raise(session=s, claim_no=no)
        taken(s, claim, "adj-a")
        assert claim.state is ClaimState.IN_REVIEW and claim.assignee == "adj-a"
    with db.session() as s:
        claim = get_claim_or_raise(session=s, claim_no=no)
        with pytest.raises(ClaimRefused) as locked:
            taken(s, claim, "adj-b")
        assert locked.value.code == "claim_locked" and "adj-a" in locked.value.message
        b = user(s, "adj-b")
        with pytest.raises(ClaimRefused) as not_taken:
            review.decide(session=s, claim=claim, user=b, actor=actor(b), decisions={S1: Decision(True)}, today=DAY)
        assert not_taken.value.code == "claim_not_taken"


def test_approval_pays_what_one_stop_pays_and_updates_the_accumulators(db: Any) -> None:
    expected = estimate({**CASE, "person": {**CASE["person"], "certno": None}})["settlements"]
    with db.session() as s:
        claim = filed(s, [S2, S1])
        adj = taken(s, claim)
        shown = review.preview(session=s, claim=claim)
        assert s.scalar(sa.select(sa.func.count()).select_from(Settlement)) == 0  # the preview kept nothing
        review.decide(session=s, claim=claim, user=adj, actor=actor(adj), decisions={S1: Decision(True), S2: Decision(True)}, today=DAY)  # fmt: skip
        assert claim.state is ClaimState.APPROVED and claim.locked_by is None
        paid = {i.setl_id: i.payout_fen for i in claim.items}
    want = {w["setl_id"]: int(w["payout"].replace(".", "")) for w in expected}
    assert paid == want
    assert {k: v["payout"] for k, v in shown.items()} == {w["setl_id"]: w["payout"] for w in expected}
    with db.session() as s:
        rows = s.scalars(sa.select(Settlement).order_by(Settlement.setl_time)).all()
        assert [(r.setl_id, r.source) for r in rows] == [(S1, SettlementSource.CLAIM), (S2, SettlementSource.CLAIM)]
        total = s.scalar(sa.select(Accumulator.value).where(Accumulator.psn_no == P1, Accumulator.key == "paid"))
        assert total == sum(want.values()) == get_claim_or_raise(session=s, claim_no=claim.claim_no).payout_fen


def test_a_partly_approved_claim_frees_the_refused_stay_and_explains_a_zero_payout(db: Any) -> None:
    with db.session() as s:
        claim = filed(s, [S1, S2])
        adj = taken(s, claim)
        decisions = {S1: Decision(False, RejectReason.DOCUMENTS_INVALID), S2: Decision(True)}
        review.decide(session=s, claim=claim, user=adj, actor=actor(adj), decisions=decisions, today=DAY)
        assert claim.state is ClaimState.PARTLY_APPROVED
        assert [(i.decision, i.active) for i in claim.items] == [
            (ItemDecision.REJECTED, False),
            (ItemDecision.APPROVED, True),
        ]
        assert claim.payout_fen == 0  # alone, S2 stays below the deductible: its lines say so
        (paid,) = review.settlements_of(session=s, claim=claim)
        assert any("未达免赔额" in (ln.reason or "") for ln in paid.lines)
        with pytest.raises(ClaimRefused) as nothing:
            review.instruct_payment(session=s, claims=[claim], actor=actor(user(s, "fin")), today=DAY)
        assert nothing.value.code == "nothing_to_pay"
        assert filed(s, [S1]).state is ClaimState.SUBMITTED


def test_an_approved_claim_is_paid_in_a_payment_batch(db: Any) -> None:
    with db.session() as s:
        claim = filed(s, [S1, S2])
        adj = taken(s, claim)
        review.decide(session=s, claim=claim, user=adj, actor=actor(adj), decisions={S1: Decision(True), S2: Decision(True)}, today=DAY)  # fmt: skip
        fin = user(s, "fin")
        ref = review.instruct_payment(session=s, claims=[claim], actor=actor(fin), today=date(2024, 7, 2))
        review.mark_paid(session=s, claim=claim, actor=actor(fin), today=date(2024, 7, 3), reference="B1")
        assert claim.state is ClaimState.PAID and claim.payment_ref == ref and claim.paid_on == date(2024, 7, 3)
        assert claim.payout_fen == 320_000
        states = [t.to_state for t in claim.transitions]
        assert states == [
            ClaimState.SUBMITTED,
            ClaimState.IN_REVIEW,
            ClaimState.APPROVED,
            ClaimState.PAYMENT_INSTRUCTED,
            ClaimState.PAID,
        ]
    with db.session() as s:
        events = s.scalars(sa.select(Outbox.event).order_by(Outbox.id)).all()
        assert events == [f"claim.{x.value}" for x in states]


def test_waiting_for_documents_pauses_the_clock(db: Any) -> None:
    with db.session() as s:
        claim = filed(s, [S1])  # Mon 1 July: due Wed 10 July
        adj = taken(s, claim)
        review.request_documents(
            session=s, claim=claim, user=adj, actor=actor(adj), what="出院小结", today=date(2024, 7, 3)
        )
        assert claim.state is ClaimState.DOCUMENTS_REQUESTED and claim.due_date is None
        with pytest.raises(ClaimRefused) as nothing_new:
            review.supply_documents(session=s, claim=claim, actor=audit.CLI, today=date(2024, 7, 8))
        assert nothing_new.value.code == "no_new_documents"
        from huiminbao.claims.models import ClaimDocument, DocumentKind

        claim.documents.append(ClaimDocument(kind=DocumentKind.DISCHARGE_SUMMARY, sha256="0" * 64, media_type="application/pdf", size=1, filename="a.pdf", uploaded_by="p1"))  # fmt: skip
        review.supply_documents(session=s, claim=claim, actor=audit.CLI, today=date(2024, 7, 8))
        # counted: Tue 2, Wed 3; paused Thu 4 .. Mon 8; then Tue 9 .. Fri 12, Mon 15 make seven
        assert claim.state is ClaimState.IN_REVIEW and claim.due_date == date(2024, 7, 15)
        assert default_calendar().working_days_between(DAY, claim.due_date, [(date(2024, 7, 3), date(2024, 7, 8))]) == 7


def test_a_change_that_rolls_back_announces_nothing(db: Any) -> None:
    with pytest.raises(RuntimeError), db.session() as s:
        filed(s, [S1])
        raise RuntimeError("the request failed after filing")
    with db.session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Outbox)) == 0
        assert s.scalar(sa.select(sa.func.count()).select_from(Claim)) == 0


@pytest.mark.slow
@pytest.mark.postgres
def test_concurrent_filings_and_takes_on_postgresql_let_exactly_one_win(pg_db_url: str, tmp_path: Path) -> None:
    """Eight claims for the same stay at once: the unique index over standing items lets one through;
    then eight adjusters take one claim at once: the conditional update gives it to one."""
    from concurrent.futures import ThreadPoolExecutor

    from sqlalchemy.exc import IntegrityError

    migrate.upgrade(pg_db_url)
    database = Database.from_url(pg_db_url)
    settings = Settings(var_dir=tmp_path / "var")
    prepare(database, tmp_path, Keys(settings.pii_key_bytes, settings.pii_hash_key_bytes), settings.pii_key_bytes)
    with database.session() as s:
        record_bodies(session=s, actor=audit.CLI, bodies=[record(0)])
        create_user(session=s, actor=audit.CLI, username="p1", role=Role.RESIDENT, password=PASSWORD, psn_no=P1)
        for k in range(8):
            create_user(session=s, actor=audit.CLI, username=f"adj-{k}", role=Role.ADJUSTER, password=PASSWORD, insurer_code="DEMO-A")  # fmt: skip

    def file_one(_: int) -> str:
        try:
            with database.session() as s:
                return filed(s, [S1]).claim_no
        except (ClaimRefused, IntegrityError):
            return ""

    with ThreadPoolExecutor(8) as pool:
        numbers = [n for n in pool.map(file_one, range(8)) if n]
    assert len(numbers) == 1

    def take_one(k: int) -> str:
        try:
            with database.session() as s:
                claim = get_claim_or_raise(session=s, claim_no=numbers[0])
                taken(s, claim, f"adj-{k}")
                return f"adj-{k}"
        except ClaimRefused:
            return ""

    with ThreadPoolExecutor(8) as pool:
        holders = [h for h in pool.map(take_one, range(8)) if h]
    assert len(holders) == 1
    with database.session() as s:
        claim = get_claim_or_raise(session=s, claim_no=numbers[0])
        assert claim.locked_by == holders[0] and claim.state is ClaimState.IN_REVIEW
        assert [t.to_state for t in claim.transitions] == [ClaimState.SUBMITTED, ClaimState.IN_REVIEW]
    database.dispose()


def test_a_stay_paid_on_a_claim_is_refused_when_the_hospital_sends_it_later(db: Any) -> None:
    from huiminbao.settlement.onestop import SettlementRefused

    with db.session() as s:
        claim = filed(s, [S1])
        adj = taken(s, claim)
        review.decide(session=s, claim=claim, user=adj, actor=actor(adj), decisions={S1: Decision(True)}, today=DAY)
    with db.session() as s, pytest.raises(SettlementRefused) as late:
        settle(session=s, actor=audit.CLI, hospital_code=HOSPITAL, body=record(0))
    assert late.value.code == "already_claimed" and "理赔" in late.value.message
