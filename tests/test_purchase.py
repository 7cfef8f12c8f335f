"""Eligibility and purchase from the plan files' rules (seeds 001-003), on both databases."""

from __future__ import annotations

import json
import threading
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from huiminbao.db import Database, migrate
from huiminbao.enrollment.bulk import enroll_share
from huiminbao.enrollment.eligibility import Refusal
from huiminbao.enrollment.models import Channel, OrderStatus, Policy, PolicyOrder, PolicyStatus, Relation
from huiminbao.enrollment.purchase import Member, PurchaseRefused, buy, check_eligibility, order_view
from huiminbao.enrollment.roster_store import Keys, import_roster
from huiminbao.identity import audit
from huiminbao.identity.certno import make_certno
from huiminbao.plans import compiled_plan
from huiminbao.settings import BEIJING, at_day
from huiminbao.supervision import figures

KEYS = Keys(encrypt=bytes.fromhex("00112233445566778899aabbccddeeff"), hash=bytes.fromhex("11" * 16))
HEADER = "psn_no,certno,psn_name,gend,brdy,insutype,insu_admdvs,psn_insu_stas,psn_insu_date,populations"
PEOPLE = {  # psn_no: (insutype, area, status, populations)
    "E1": ("310", "371502", "1", ""),  # an employee in Liaocheng: has a personal account
    "S1": ("390", "371502", "1", ""),  # spouse
    "C1": ("390", "371502", "1", ""),  # child
    "B1": ("390", "371502", "1", ""),  # sibling
    "V1": ("390", "371521", "1", "veteran"),
    "R1": ("390", "371502", "1", ""),  # a resident: no personal account
    "X1": ("390", "370102", "1", ""),  # Jinan, not Liaocheng
    "H1": ("390", "371502", "2", ""),  # basic insurance suspended
    "Q0": ("310", "330802", "1", ""),  # Quzhou employee and relatives
    **{f"Q{i}": ("390", "330802", "1", "") for i in range(1, 7)},
    "Z1": ("390", "370302", "1", "poverty_alleviated"),  # Zibo
    "Z2": ("390", "370302", "1", ""),
}
IN_WINDOW = date(2023, 12, 1)
LATE = date(2024, 3, 1)


@pytest.fixture
def db(db_url: str, tmp_path: Path):
    migrate.upgrade(db_url)
    database = Database.from_url(db_url)
    lines = [HEADER] + [
        f"{p},{make_certno(area, date(1980, 1, 1), i)},测试{i},1,1980-01-01,{kind},{area},{stas},2010-01-01,{tags}"
        for i, (p, (kind, area, stas, tags)) in enumerate(PEOPLE.items(), start=1)
    ]
    (tmp_path / "roster.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    with database.session() as s:
        result = import_roster(session=s, path=tmp_path / "roster.csv", keys=KEYS, actor=audit.CLI, today=IN_WINDOW)
    assert result.rejected == 0, result.report_csv
    yield database
    database.dispose()


def eligible(db: Database, plan: str, psn_no: str, day: date, channel: Channel | None = None):
    with db.session() as s:
        return check_eligibility(session=s, compiled=compiled_plan(plan), psn_no=psn_no, day=day, channel=channel)


def purchase(
    db: Database, plan: str, payer: str, members: list[tuple[str, Relation]], channel: Channel, day: date, **kw
):
    with db.session() as s:
        order = buy(
            session=s, actor=audit.CLI, compiled=compiled_plan(plan), payer_psn_no=payer,
            members=[Member(p, r) for p, r in members], channel=channel, day=day, paid=True, **kw,
        )  # fmt: skip
        return order_view(session=s, order=order)


def test_eligibility_follows_the_plan(db: Database) -> None:
    ok = eligible(db, "liaocheng-2024", "R1", IN_WINDOW)
    assert (
        ok.eligible
        and ok.premium_fen == 8900
        and (ok.cover_start, ok.cover_end) == (date(2024, 1, 1), date(2024, 12, 31))
    )
    assert ok.reason.startswith("可以投保聊惠保") and "保费 89.00 元" in ok.reason
    cases = {
        ("X1", IN_WINDOW, None): (Refusal.NOT_ELIGIBLE, "不是聊城市基本医保参保人（参保地 370102）"),
        ("H1", IN_WINDOW, None): (Refusal.NOT_ELIGIBLE, "基本医保已暂停参保，不能投保"),
        ("NOPE", IN_WINDOW, None): (Refusal.NOT_IN_ROSTER, "基本医保参保人员名册中没有此人员编号"),
        ("R1", LATE, None): (Refusal.OUTSIDE_WINDOW, "不在投保期内（投保期 2023-12-31 截止）"),
        ("V1", LATE, Channel.ONLINE): (Refusal.OUTSIDE_WINDOW, "不在投保期内（投保期 2023-12-31 截止）"),
        ("R1", date(2025, 1, 2), None): (Refusal.OUTSIDE_WINDOW, "聊惠保保障期已于 2024-12-31 结束"),
    }
    for (psn_no, day, channel), (code, reason) in cases.items():
        got = eligible(db, "liaocheng-2024", psn_no, day, channel)
        assert (got.eligible, got.code, got.reason) == (False, code, reason), psn_no


def test_a_veteran_joins_at_the_counter_during_the_year(db: Database) -> None:
    """Seed 001: 2024年退役军人可线下随时参加2024年度"聊惠保"."""
    got = eligible(db, "liaocheng-2024", "V1", LATE, Channel.COUNTER)
    assert (
        got.eligible
        and got.cover_start == LATE
        and "2024年退役军人可在 2024-12-31 前随时投保（线下柜台）" in got.reason
    )
    view = purchase(db, "liaocheng-2024", "V1", [("V1", Relation.SELF)], Channel.COUNTER, LATE)
    assert view["policies"][0]["cover_start"] == "2024-03-01" and view["policies"][0]["status"] == "active"


def test_family_order_from_an_employees_personal_account(db: Database) -> None:
    members = [("E1", Relation.SELF), ("S1", Relation.SPOUSE), ("C1", Relation.CHILD)]
    view = purchase(db, "liaocheng-2024", "E1", members, Channel.PERSONAL_ACCOUNT, IN_WINDOW)
    assert view["status"] == OrderStatus.PAID and view["total"] == "267.00"
    assert [(p["psn_no"], p["premium"], p["status"]) for p in view["policies"]] == [
        ("E1", "89.00", "active"), ("S1", "89.00", "active"), ("C1", "89.00", "active"),
    ]  # fmt: skip
    again = eligible(db, "liaocheng-2024", "S1", IN_WINDOW)
    assert again.code == Refusal.ALREADY_INSURED and again.reason.startswith("已持有聊惠保保单 P2024")


@pytest.mark.parametrize(
    ("plan", "payer", "members", "code", "index"),
    [
        ("liaocheng-2024", "E1", [("E1", "self"), ("B1", "sibling")], Refusal.RELATION_NOT_ALLOWED, 1),
        ("liaocheng-2024", "R1", [("R1", "self")], Refusal.RELATION_NOT_ALLOWED, None),
        ("liaocheng-2024", "E1", [("E1", "self"), ("X1", "spouse")], Refusal.NOT_ELIGIBLE, 1),
        ("liaocheng-2024", "E1", [("E1", "self"), ("NOPE", "child")], Refusal.NOT_IN_ROSTER, 1),
        (
            "quzhou-2021",
            "Q0",
            [("Q0", "self")] + [(f"Q{i}", "child") for i in range(1, 7)],
            Refusal.TOO_MANY_MEMBERS,
            6,
        ),
    ],
)
def test_refusals_name_the_member_and_buy_nothing(
    db: Database, plan: str, payer: str, members: list[tuple[str, str]], code: Refusal, index: int | None
) -> None:
    day = date(2021, 1, 10) if plan.startswith("quzhou") else IN_WINDOW
    with pytest.raises(PurchaseRefused) as info:
        purchase(db, plan, payer, [(p, Relation(r)) for p, r in members], Channel.PERSONAL_ACCOUNT, day)
    assert info.value.code == code and info.value.index == index
    if index is not None:
        assert info.value.psn_no == members[index][0] and info.value.field == f"members[{index}].psn_no"
    with db.session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Policy)) == 0


def test_an_order_with_one_insured_member_is_refused_whole(db: Database) -> None:
    purchase(db, "liaocheng-2024", "S1", [("S1", Relation.SELF)], Channel.ONLINE, IN_WINDOW)
    with pytest.raises(PurchaseRefused) as info:
        purchase(
            db, "liaocheng-2024", "E1", [("E1", Relation.SELF), ("S1", Relation.SPOUSE)], Channel.ONLINE, IN_WINDOW
        )
    assert info.value.code == Refusal.ALREADY_INSURED and info.value.psn_no == "S1"
    with db.session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Policy)) == 1  # E1 was not bought alone


def test_zibo_poverty_alleviated_get_the_upgraded_tier_cheaper(db: Database) -> None:
    """Seed 003: 脱贫享受政策人口 pay less and get the upgraded tier."""
    z1 = eligible(db, "zibo-2022", "Z1", date(2021, 12, 1))
    z2 = eligible(db, "zibo-2022", "Z2", date(2021, 12, 1))
    assert (z1.tier, z1.premium_fen) == ("upgraded", 2900)
    assert (z2.tier, z2.premium_fen) == ("basic", 5900)
    view = purchase(db, "zibo-2022", "Z2", [("Z2", Relation.SELF)], Channel.ONLINE, date(2021, 12, 1), tier="upgraded")
    assert (view["policies"][0]["tier"], view["policies"][0]["premium"]) == ("upgraded", "99.00")
    with pytest.raises(PurchaseRefused) as info:
        purchase(db, "zibo-2022", "Z1", [("Z1", Relation.SELF)], Channel.ONLINE, date(2021, 12, 1), tier="gold")
    assert info.value.code == Refusal.UNKNOWN_TIER


def test_racing_orders_for_the_same_person_make_one_policy(db: Database) -> None:
    """Ten orders for the same person at once: the database's unique constraint lets one through."""
    results: list[str] = []

    def attempt() -> None:
        try:
            purchase(db, "liaocheng-2024", "C1", [("C1", Relation.SELF)], Channel.ONLINE, IN_WINDOW)
            results.append("ok")
        except PurchaseRefused as exc:
            results.append(exc.code.value)
        except sa.exc.OperationalError:  # SQLite: the database is locked for the losers
            results.append("locked")

    threads = [threading.Thread(target=attempt) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count("ok") == 1, results
    with db.session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Policy)) == 1
        assert s.scalars(sa.select(Policy.status)).one() == PolicyStatus.ACTIVE


def test_cli_policy_buy(db: Database, db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from huiminbao.cli.main import app
    from huiminbao.settings import get_settings

    monkeypatch.setenv("HMB_DATABASE_URL", db_url)
    monkeypatch.setenv("HMB_TODAY", "2023-12-01")
    get_settings.cache_clear()
    try:
        args = ["policy", "buy", "--plan", "liaocheng-2024", "--payer", "E1", "--member", "E1:self",
                "--member", "S1:spouse", "--channel", "personal_account", "--json"]  # fmt: skip
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
        out = json.loads(result.stdout)
        assert out["order"].startswith("O2024") and [p["status"] for p in out["policies"]] == ["active", "active"]
        refused = CliRunner().invoke(app, [*args[:-1], "--json"])
        assert refused.exit_code != 0
        body = json.loads(refused.stdout)
        assert body["code"] == "already_insured" and body["psn_no"] == "E1" and body["field"] == "members[0].psn_no"
    finally:
        get_settings.cache_clear()


def test_personal_account_deductions_go_to_the_bureau_and_back(
    db: Database, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from huiminbao.cli.main import app
    from huiminbao.settings import get_settings

    with db.session() as s:
        order = buy(
            session=s, actor=audit.CLI, compiled=compiled_plan("liaocheng-2024"), payer_psn_no="E1",
            members=[Member("E1", Relation.SELF), Member("S1", Relation.SPOUSE)], channel=Channel.PERSONAL_ACCOUNT,
            day=IN_WINDOW, paid=False,
        )  # fmt: skip
        order_no = order.order_no
    monkeypatch.setenv("HMB_DATABASE_URL", db_url)
    monkeypatch.setenv("HMB_TODAY", "2023-12-10")
    get_settings.cache_clear()
    try:
        out = tmp_path / "deduct.csv"
        res = CliRunner().invoke(app, ["policy", "deductions", "export", "--plan", "liaocheng-2024", "--out", str(out)])
        assert res.exit_code == 0, res.output
        assert out.read_text(encoding="utf-8-sig").splitlines() == ["order_no,psn_no,amount", f"{order_no},E1,178.00"]
        results = tmp_path / "results.csv"
        results.write_text(f"order_no,result,reason\n{order_no},failed,个人账户余额不足\n", encoding="utf-8")
        res = CliRunner().invoke(app, ["policy", "deductions", "import", str(results), "--json"])
        assert json.loads(res.stdout) == {"paid": 0, "failed": 1, "repeated": 0}
        results.write_text(f"order_no,result,reason\n{order_no},paid,\n", encoding="utf-8")
        for expected in ({"paid": 1, "failed": 0, "repeated": 0}, {"paid": 0, "failed": 0, "repeated": 1}):
            res = CliRunner().invoke(app, ["policy", "deductions", "import", str(results), "--json"])
            assert json.loads(res.stdout) == expected
        bad = tmp_path / "bad.csv"
        bad.write_text(f"order_no,result\n{order_no},maybe\n", encoding="utf-8")
        res = CliRunner().invoke(app, ["policy", "deductions", "import", str(bad)])
        assert res.exit_code == 2 and "第 2 行：result 应为 paid 或 failed" in res.output
    finally:
        get_settings.cache_clear()
    with db.session() as s:
        statuses = s.scalars(sa.select(Policy.status)).all()
        assert statuses == [PolicyStatus.ACTIVE, PolicyStatus.ACTIVE]
        assert s.scalars(sa.select(Policy.status_date)).first() == date(2023, 12, 10)


def test_no_refund_once_a_claim_is_paid(db: Database) -> None:
    from huiminbao.enrollment.lifecycle import CancelRefused
    from huiminbao.flows.policies import cancel_policy
    from huiminbao.settlement.models import AdjudicationRun, SettlementOutcome

    view = purchase(db, "liaocheng-2024", "R1", [("R1", Relation.SELF)], Channel.COUNTER, IN_WINDOW)
    policy_no = view["policies"][0]["policy_no"]
    with db.session() as s:
        run = AdjudicationRun(plan_id="liaocheng-2024", tier="standard")
        s.add(run)
        s.flush()
        s.add(SettlementOutcome(run_id=run.id, setl_id="S1", psn_no="R1", payout_fen=123456))
    with pytest.raises(CancelRefused) as info, db.session() as s:
        cancel_policy(session=s, actor=audit.CLI, policy_no=policy_no, day=date(2023, 12, 20))
    assert info.value.code == "claim_paid" and info.value.message == "本保单已赔付 1234.56 元，不能退保"


def test_concurrent_charity_allocations_never_overspend(db: Database) -> None:
    from huiminbao.enrollment.group import GroupError, Line, buy_group, create_fund
    from huiminbao.enrollment.models import CharityFund

    with db.session() as s:
        fund_id = create_fund(session=s, actor=audit.CLI, name="慈善", plan_id="liaocheng-2024", amount_fen=3 * 8900).id
    lists = [["E1", "S1"], ["C1", "B1"], ["V1", "R1"]]
    outcomes: list[str] = []

    def allocate(psn_nos: list[str]) -> None:
        try:
            with db.session() as s:
                buy_group(
                    session=s, actor=audit.CLI, compiled=compiled_plan("liaocheng-2024"),
                    lines=[Line(i, p, None) for i, p in enumerate(psn_nos, start=2)], hash_key=KEYS.hash,
                    day=IN_WINDOW, payer_name="慈善", fund_id=fund_id,
                )  # fmt: skip
            outcomes.append("ok")
        except (GroupError, sa.exc.OperationalError) as exc:
            outcomes.append(type(exc).__name__)

    threads = [threading.Thread(target=allocate, args=(ps,)) for ps in lists]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with db.session() as s:
        balance = s.get(CharityFund, fund_id).balance_fen  # type: ignore[union-attr]
        policies = s.scalar(sa.select(sa.func.count()).select_from(Policy))
    assert balance >= 0 and balance == 3 * 8900 - policies * 8900, (balance, policies, outcomes)
    assert 1 <= policies <= 3 and "ok" in outcomes


def test_renewal_with_the_payers_consent(db: Database, db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from huiminbao.cli.main import app
    from huiminbao.enrollment.lifecycle import set_renewal
    from huiminbao.enrollment.policies import get_policy_or_raise
    from huiminbao.settings import get_settings

    view = purchase(
        db,
        "liaocheng-2024",
        "E1",
        [("E1", Relation.SELF), ("S1", Relation.SPOUSE)],
        Channel.PERSONAL_ACCOUNT,
        IN_WINDOW,
    )
    purchase(db, "liaocheng-2024", "C1", [("C1", Relation.SELF)], Channel.ONLINE, IN_WINDOW)
    with db.session() as s:
        held = get_policy_or_raise(session=s, policy_no=view["policies"][0]["policy_no"])
        set_renewal(session=s, actor=audit.CLI, held=held, consent=True)
    monkeypatch.setenv("HMB_DATABASE_URL", db_url)
    monkeypatch.setenv("HMB_TODAY", "2024-12-01")  # inside 2025's window
    get_settings.cache_clear()
    try:
        for expected in (1, 0):  # a second run renews no one twice
            res = CliRunner().invoke(
                app, ["policy", "renew", "--from", "liaocheng-2024", "--to", "liaocheng-2025", "--json"]
            )
            assert res.exit_code == 0, res.output
            out = json.loads(res.stdout)
            assert len(out["renewed"]) == expected
        reasons = {r["psn_no"]: r["reason"] for r in out["not_renewed"]}
        assert reasons["S1"] == "投保人未同意续保" and reasons["C1"] == "投保人未同意续保"
        assert reasons["E1"] == "已持有聊惠保保单"
    finally:
        get_settings.cache_clear()
    with db.session() as s:
        new = s.scalars(sa.select(Policy).where(Policy.plan_id == "liaocheng-2025")).one()
        assert new.status == PolicyStatus.PENDING_PAYMENT and new.renew
        assert new.cover_start == date(2025, 1, 1)


def _beijing_day(moment: datetime) -> date:
    return moment.astimezone(BEIJING).date()


def test_a_purchase_on_a_past_platform_date_is_paid_on_that_day(db: Database) -> None:
    """Under ``HMB_TODAY`` (a demo, a replayed year) the order's paid time is that day, so the premium
    lands in that day's month; the real time of day is kept."""
    view = purchase(db, "liaocheng-2024", "R1", [("R1", Relation.SELF)], Channel.COUNTER, IN_WINDOW)
    with db.session() as s:
        order = s.scalars(sa.select(PolicyOrder).where(PolicyOrder.order_no == view["order"])).one()
        assert order.paid_at is not None and _beijing_day(order.paid_at) == IN_WINDOW


def test_at_day_is_the_real_now_on_the_real_day() -> None:
    now = datetime.now(UTC)
    assert abs((at_day(now.date()) - now).total_seconds()) < 5
    assert _beijing_day(at_day(date(2024, 2, 29))) == date(2024, 2, 29)


def test_the_demo_enrollment_premium_falls_in_the_window_s_last_month(db: Database) -> None:
    """``load-demo`` enrolls "as bought on the last day of the window": the premium figures show it all
    in December 2023, not in the month the demo was loaded."""
    compiled = compiled_plan("liaocheng-2024")
    end = compiled.plan.enrollment.window.end
    with db.session() as s:
        made = enroll_share(session=s, actor=audit.CLI, compiled=compiled, share=1.0, day=end, seed=1)
    with db.session() as s:
        got = figures.premium(session=s, plan=compiled.plan)
    assert made > 0 and [r["month"] for r in got["by_month"]] == [f"{end:%Y-%m}"]
