"""The notifications outbox: queued in the caller's transaction, once per dedupe key; delivered once by
any number of workers, retried with backoff, failed for good after a refusal or the last attempt; no
phone or ID number in a message or the notification file."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from huiminbao.api.logs import configure_logging
from huiminbao.cli.main import app as cli
from huiminbao.db import Database, migrate
from huiminbao.db.base import utcnow
from huiminbao.enrollment.models import InsuredPerson
from huiminbao.identity.pii import encrypt_certno, encrypt_text
from huiminbao.notify.models import Outbox, OutboxStatus
from huiminbao.notify.outbox import enqueue
from huiminbao.notify.senders import (
    LogSender,
    Message,
    PermanentSendError,
    SmsSender,
    TransientSendError,
    senders,
)
from huiminbao.notify.worker import _claim, _mark, backoff, deliver_due
from huiminbao.settings import Settings, get_settings, sqlite_url

PHONE = "13812341234"
CERTNO = "11010519491231002X"
T0 = utcnow().replace(microsecond=0) + timedelta(days=1)  # after the rows are queued (due at once), however late
# in a long suite this module runs (at +5 minutes a loaded machine reached it after T0 and nothing was due)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    s = Settings(var_dir=tmp_path / "var", database_url=sqlite_url(tmp_path / "notify.db"))
    migrate.upgrade(s.database_url)
    return s


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    database = Database.from_url(settings.database_url)
    yield database
    database.dispose()


def queue(db: Database, n: int, channel: str = "log", psn_no: str | None = "P1") -> None:
    with db.session() as s:
        for k in range(n):
            enqueue(
                session=s, event="claim.received", dedupe_key=f"claim:{k}:received", psn_no=psn_no,
                subject="理赔已受理", body=f"您的第 {k} 号理赔已受理。", channel=channel,
            )  # fmt: skip


def rows(db: Database) -> list[Outbox]:
    with db.session() as s:
        return list(s.scalars(sa.select(Outbox).order_by(Outbox.id)))


def log_ids(settings: Settings) -> list[int]:
    path = settings.notify_log_path
    return [json.loads(line)["id"] for line in path.read_text("utf-8").splitlines()] if path.exists() else []


class Recording:
    """A sender that records what it is given; ``fail`` decides per call whether (and how) to fail."""

    name = "test"
    needs_phone = False

    def __init__(self, fail: Callable[[Message, int], Exception | None] = lambda m, n: None):
        self.fail, self.calls, self.lock = fail, Counter[int](), threading.Lock()

    def send(self, message: Message) -> None:
        with self.lock:
            self.calls[message.id] += 1
            n = self.calls[message.id]
        if (exc := self.fail(message, n)) is not None:
            raise exc


def test_a_message_queued_in_a_transaction_that_rolls_back_is_not_kept(db: Database) -> None:
    with pytest.raises(RuntimeError), db.session() as s:
        assert enqueue(session=s, event="e", dedupe_key="k", psn_no="P1", subject="s", body="b") is not None
        raise RuntimeError("the change it announces failed")
    assert rows(db) == []


def test_the_same_dedupe_key_queues_one_message(db: Database) -> None:
    with db.session() as s:
        first = enqueue(session=s, event="e", dedupe_key="claim:1:paid", psn_no="P1", subject="s", body="b")
        again = enqueue(session=s, event="e", dedupe_key="claim:1:paid", psn_no="P1", subject="s", body="b")
    with db.session() as s:
        later = enqueue(session=s, event="e", dedupe_key="claim:1:paid", psn_no="P1", subject="s", body="b")
    assert first is not None and again is None and later is None
    assert [(r.dedupe_key, r.channel, r.status) for r in rows(db)] == [("claim:1:paid", "log", OutboxStatus.PENDING)]


def test_the_worker_sends_each_message_once_with_the_log_sender(db: Database, settings: Settings) -> None:
    queue(db, 3)
    report = deliver_due(db, senders(settings), T0, settings=settings)
    assert (report.sent, report.retried, report.failed) == ([1, 2, 3], [], [])
    assert log_ids(settings) == [1, 2, 3]
    assert all(r.status == OutboxStatus.SENT and r.sent_at == T0 and r.attempts == 1 for r in rows(db))
    assert deliver_due(db, senders(settings), T0 + timedelta(days=30), settings=settings).claimed == 0  # never again
    assert log_ids(settings) == [1, 2, 3]


def test_a_message_due_later_waits(db: Database, settings: Settings) -> None:
    queue(db, 1)
    with db.session() as s:
        s.execute(sa.update(Outbox).values(next_attempt_at=T0 + timedelta(hours=1)))
    assert deliver_due(db, senders(settings), T0, settings=settings).claimed == 0
    assert deliver_due(db, senders(settings), T0 + timedelta(hours=1), settings=settings).sent == [1]


def test_a_transient_failure_is_retried_after_a_backoff_then_sent(db: Database, settings: Settings) -> None:
    queue(db, 1)
    sender = Recording(lambda m, n: TransientSendError("gateway answered 503") if n == 1 else None)
    assert deliver_due(db, lambda _: sender, T0, settings=settings).retried == [1]
    (row,) = rows(db)
    wait = row.next_attempt_at - T0
    assert row.status == OutboxStatus.PENDING and row.attempts == 1 and row.last_error == "gateway answered 503"
    assert timedelta(seconds=settings.notify_backoff_seconds / 2) <= wait <= timedelta(seconds=30)
    assert deliver_due(db, lambda _: sender, T0 + wait / 2, settings=settings).claimed == 0  # not yet
    assert deliver_due(db, lambda _: sender, row.next_attempt_at, settings=settings).sent == [1]
    (row,) = rows(db)
    assert (row.status, row.attempts, row.last_error, sender.calls[1]) == (OutboxStatus.SENT, 2, None, 2)


def test_the_backoff_doubles_up_to_its_cap_with_jitter() -> None:
    assert [backoff(n, 30, 3600, lambda: 1.0).total_seconds() for n in (1, 2, 3, 8, 20)] == [30, 60, 120, 3600, 3600]
    assert backoff(3, 30, 3600, lambda: 0.0).total_seconds() == 60


def test_a_permanent_failure_fails_at_once(db: Database, settings: Settings) -> None:
    queue(db, 1)
    sender = Recording(lambda m, n: PermanentSendError("gateway refused: 400"))
    assert deliver_due(db, lambda _: sender, T0, settings=settings).failed == [1]
    (row,) = rows(db)
    assert (row.status, row.attempts, row.last_error) == (OutboxStatus.FAILED, 1, "gateway refused: 400")
    assert deliver_due(db, lambda _: sender, T0 + timedelta(days=1), settings=settings).claimed == 0


def test_the_last_allowed_attempt_fails_for_good(db: Database, settings: Settings) -> None:
    settings = settings.model_copy(update={"notify_max_attempts": 3})
    queue(db, 1)
    sender = Recording(lambda m, n: TransientSendError("timeout"))
    outcomes, now = [], T0
    for _ in range(4):
        report = deliver_due(db, lambda _: sender, now, settings=settings)
        outcomes.append(report.as_dict())
        now += timedelta(days=1)
    assert [o["retried"] or o["failed"] for o in outcomes] == [[1], [1], [1], []]
    assert outcomes[2]["failed"] == [1]
    (row,) = rows(db)
    assert (row.status, row.attempts, sender.calls[1]) == (OutboxStatus.FAILED, 3, 3)


def test_an_unknown_channel_fails_and_a_crashing_sender_is_retried(db: Database, settings: Settings) -> None:
    queue(db, 1, channel="fax")
    assert deliver_due(db, senders(settings), T0, settings=settings).failed == [1]
    assert "fax" in (rows(db)[0].last_error or "")
    with db.session() as s:
        enqueue(session=s, event="e", dedupe_key="k2", psn_no=None, subject="s", body="b", channel="log")
    broken = Recording(lambda m, n: ZeroDivisionError(PHONE))
    assert deliver_due(db, lambda _: broken, T0, settings=settings).retried == [2]
    assert rows(db)[1].last_error == "ZeroDivisionError"  # the type only: an exception's text may hold anything


@pytest.mark.parametrize("workers", [2, 4])
def test_workers_on_sqlite_never_send_a_message_twice(db: Database, settings: Settings, workers: int) -> None:
    queue(db, 60)
    sender = Recording()
    start = threading.Barrier(workers)

    def work() -> None:
        start.wait()
        while deliver_due(db, lambda _: sender, T0, batch=7, settings=settings).claimed:
            pass

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(sender.calls) == list(range(1, 61)) and set(sender.calls.values()) == {1}
    assert {r.status for r in rows(db)} == {OutboxStatus.SENT}


def test_an_expired_lease_is_taken_again_and_the_log_sender_writes_the_id_once(
    db: Database, settings: Settings
) -> None:
    """A worker that wrote the messages and died before marking them: after its lease another worker
    takes them, the file keeps one line per message, and the dead worker's late mark changes nothing."""
    queue(db, 2)
    lease, claimed = _claim(db, T0, 10, settings)
    crashed = LogSender(settings.notify_log_path)
    crashed.send(claimed[0][0])  # sent the first, then died
    assert deliver_due(db, senders(settings), T0 + timedelta(seconds=1), settings=settings).claimed == 0  # held
    after = T0 + timedelta(seconds=settings.notify_lease_seconds)
    assert deliver_due(db, senders(settings), after, settings=settings).sent == [1, 2]
    assert log_ids(settings) == [1, 2]
    assert not _mark(db, 1, lease, status=OutboxStatus.PENDING)
    assert [(r.status, r.attempts) for r in rows(db)] == [(OutboxStatus.SENT, 1), (OutboxStatus.SENT, 1)]


def add_person(db: Database, settings: Settings, psn_no: str = "P1") -> None:
    key = settings.pii_key_bytes
    with db.session() as s:
        s.add(
            InsuredPerson(
                psn_no=psn_no, certno_hash="a" * 64, certno_enc=encrypt_certno(CERTNO, key),
                name_enc=encrypt_text("张三", key), name_masked="张*", content_hash="",
                phone_enc=encrypt_text(PHONE, key), phone_masked="138****1234", gender="1",
                birth_date=date(1949, 12, 31), insutype="390", insu_admdvs="371502",
            )
        )  # fmt: skip


def test_no_phone_or_id_number_in_a_message_or_the_notification_file(db: Database, settings: Settings) -> None:
    add_person(db, settings)
    with db.session() as s:
        enqueue(
            session=s, event="claim.paid", dedupe_key="claim:9:paid", psn_no="P1", subject=f"致 {PHONE}",
            body=f"身份证 {CERTNO} 的理赔已支付，疑问请拨 +86{PHONE}。",
        )  # fmt: skip
    (row,) = rows(db)
    assert PHONE not in row.subject + row.body and CERTNO not in row.body and "138****1234" in row.body
    deliver_due(db, senders(settings), T0, settings=settings)
    text = settings.notify_log_path.read_text("utf-8")
    assert PHONE not in text and CERTNO not in text and "110105********002X" in text


def gateway(answers: list[int], seen: list[httpx.Request]) -> httpx.Client:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(answers.pop(0), json={})

    return httpx.Client(transport=httpx.MockTransport(handle))


def test_the_sms_sender_posts_the_phone_found_at_send_time_with_the_message_id(
    db: Database, settings: Settings
) -> None:
    add_person(db, settings)
    queue(db, 1, channel="sms")
    queue_no_phone = "P2"
    with db.session() as s:
        enqueue(session=s, event="e", dedupe_key="k", psn_no=queue_no_phone, subject="s", body="b", channel="sms")
    seen: list[httpx.Request] = []
    sms = SmsSender("https://sms.example/send", "tok", 5, client=gateway([503, 200], seen))
    first = deliver_due(db, lambda _: sms, T0, settings=settings)
    assert (first.retried, first.failed) == ([1], [2])  # 503: later; P2 has no phone: never
    assert "no mobile phone" in (rows(db)[1].last_error or "")
    second = deliver_due(db, lambda _: sms, T0 + timedelta(days=1), settings=settings)
    assert second.sent == [1]
    assert [r.headers["Idempotency-Key"] for r in seen] == ["hmb-1", "hmb-1"]
    assert seen[0].headers["Authorization"] == "Bearer tok"
    assert json.loads(seen[1].content)["phone"] == PHONE


@pytest.mark.parametrize(("status", "error"), [(429, TransientSendError), (400, PermanentSendError)])
def test_gateway_answers_are_transient_or_permanent(status: int, error: type[Exception]) -> None:
    sms = SmsSender("https://sms.example/send", "", 5, client=gateway([status], []))
    with pytest.raises(error):
        sms.send(Message(1, "e", "sms", "P1", "s", "b", phone=PHONE))


def test_senders_are_chosen_by_name_and_need_their_gateway(settings: Settings) -> None:
    sender_for = senders(settings)
    assert sender_for("log").name == "log" and sender_for("log") is sender_for("log")
    with pytest.raises(ValueError, match="HMB_NOTIFY_SMS_URL"):
        sender_for("sms")
    wechat = senders(settings.model_copy(update={"notify_wechat_url": "https://wx.example/msg"}))("wechat")
    assert wechat.name == "wechat"


def test_hmb_notify_run_and_list(settings: Settings, db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    configure_logging()  # once per process, on the test's stderr, not the runner's short-lived one
    queue(db, 2)
    monkeypatch.setenv("HMB_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("HMB_VAR_DIR", str(settings.var_dir))
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        pending = runner.invoke(cli, ["notify", "list", "--status", "pending", "--json"])
        ran = runner.invoke(cli, ["notify", "run", "--once", "--json"])
        again = runner.invoke(cli, ["notify", "run", "--once"])
        listed = runner.invoke(cli, ["notify", "list", "--status", "sent"])
    finally:
        get_settings.cache_clear()
    assert pending.exit_code == 0, pending.output
    assert [r["id"] for r in json.loads(pending.stdout)["items"]] == [2, 1]
    assert ran.exit_code == 0, ran.output
    assert json.loads(ran.stdout) == {"sent": [1, 2], "retried": [], "failed": [], "lost": []}
    assert again.exit_code == 0 and "已发送 0 条" in again.stdout
    assert listed.exit_code == 0 and listed.stdout.count("claim.received") == 2
    assert log_ids(settings) == [1, 2]


def test_staff_list_notifications_by_status(client: Any, sign_in: Any) -> None:
    db = client.app.state.db
    queue(db, 2)
    with db.session() as s:
        s.execute(sa.update(Outbox).where(Outbox.id == 1).values(status=OutboxStatus.FAILED, last_error="超时"))
    admin = sign_in("admin")
    res = client.get("/api/v1/notifications", params={"status": "failed"}, headers=admin)
    assert res.status_code == 200
    assert [(r["id"], r["last_error"]) for r in res.json()["items"]] == [(1, "超时")]
    assert len(client.get("/api/v1/notifications", headers=admin).json()["items"]) == 2
    bad = client.get("/api/v1/notifications", params={"status": "lost"}, headers=admin)
    assert bad.status_code == 422 and bad.json()["field"]
    assert client.get("/api/v1/notifications", headers=sign_in("adjuster")).status_code == 403


@pytest.mark.slow
@pytest.mark.postgres
def test_workers_on_postgresql_skip_locked_rows_and_never_send_twice(pg_db_url: str, tmp_path: Path) -> None:
    migrate.upgrade(pg_db_url)
    settings = Settings(var_dir=tmp_path / "var", database_url=pg_db_url)
    db = Database.from_url(pg_db_url, pool_size=8)
    try:
        queue(db, 200)
        sender = Recording()
        start = threading.Barrier(6)

        def work() -> None:
            start.wait()
            while deliver_due(db, lambda _: sender, T0, batch=9, settings=settings).claimed:
                pass

        threads = [threading.Thread(target=work) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(sender.calls) == list(range(1, 201)) and set(sender.calls.values()) == {1}
        assert {r.status for r in rows(db)} == {OutboxStatus.SENT}
    finally:
        db.dispose()


def test_the_loop_delivers_until_stopped(db: Database, settings: Settings) -> None:
    from huiminbao.notify.worker import run

    queue(db, 5)
    stop = threading.Event()
    sender = Recording()
    rounds: list[list[int]] = []

    def on_round(report: Any) -> None:
        rounds.append(report.sent)
        stop.set()

    total = run(db, stop, 0.01, sender_for=lambda _: sender, settings=settings, batch=3, on_round=on_round)
    assert rounds == [[1, 2, 3]] and total.sent == [1, 2, 3]
    stop.clear()
    threading.Timer(0.3, stop.set).start()
    assert run(db, stop, 0.01, sender_for=lambda _: sender, settings=settings).sent == [4, 5]
