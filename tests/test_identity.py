"""Sign-in, lock-out, tokens; hospitals' signed requests; the hash-chained audit log; the CLI."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from huiminbao.cli.main import app as cli
from huiminbao.identity import audit
from huiminbao.identity.models import AuditEntry, Role
from huiminbao.identity.service import IdentityError, add_hospital, create_user, rotate_secret
from tests.conftest import PASSWORD, ROOT


def token(client: TestClient, username: str, password: str = PASSWORD) -> Any:
    return client.post("/api/v1/auth/token", data={"username": username, "password": password})


def test_sign_in_answers_a_bearer_token_and_me(client: TestClient, sign_in: Any) -> None:
    headers = sign_in("resident", psn_no="37150000000000000001")
    me = client.get("/api/v1/auth/me", headers=headers).json()
    assert me == {
        "username": "resident-1",
        "role": "resident",
        "psn_no": "37150000000000000001",
        "hospital_code": None,
        "insurer_code": None,
    }
    assert client.get("/api/v1/auth/me").json()["code"] == "not_authenticated"
    bad = client.get("/api/v1/auth/me", headers={"Authorization": "Bearer nonsense"})
    assert (bad.status_code, bad.json()["code"]) == (401, "invalid_token")


def test_wrong_passwords_lock_the_account(client: TestClient, sign_in: Any) -> None:
    sign_in("finance")
    for _ in range(5):
        res = token(client, "finance-1", "wrong password 1")
        assert (res.status_code, res.json()["code"]) == (401, "invalid_credentials")
    locked = token(client, "finance-1")  # even the right password, for a while
    assert (locked.status_code, locked.json()["code"]) == (401, "account_locked")
    with client.app.state.db.session() as s:
        actions = s.scalars(sa.select(AuditEntry.action)).all()
    assert "user.locked" in actions


def test_sign_in_is_rate_limited(client: TestClient) -> None:
    codes = [token(client, "nobody", "x").status_code for _ in range(21)]
    assert codes[:20] == [401] * 20 and codes[20] == 429


def test_password_rules_and_links(client: TestClient) -> None:
    with client.app.state.db.session() as s:
        for password, message in (
            ("short1", "至少 10 个字符"),
            ("onlyletters", "字母和数字"),
            ("alice12345x", "用户名"),
        ):
            with pytest.raises(IdentityError, match=message):
                create_user(session=s, actor=audit.CLI, username="alice", role=Role.ADMIN, password=password)
        with pytest.raises(IdentityError, match="psn_no"):
            create_user(session=s, actor=audit.CLI, username="bob", role=Role.RESIDENT, password=PASSWORD)


def signed(
    client: TestClient, code: str, secret: str, body: bytes, *, nonce: str, stamp: int | None = None, send: bytes = b""
) -> Any:
    stamp = int(time.time()) if stamp is None else stamp
    path = "/api/v1/hospital/ping"
    message = "\n".join(["POST", path, str(stamp), nonce, hashlib.sha256(body).hexdigest()])
    sig = hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()
    headers = {"X-HMB-Hospital": code, "X-HMB-Timestamp": str(stamp), "X-HMB-Nonce": nonce, "X-HMB-Signature": sig}
    return client.post(path, content=send or body, headers=headers)


def test_hospital_signatures(client: TestClient) -> None:
    key = client.app.state.settings.pii_key_bytes
    with client.app.state.db.session() as s:
        secret = add_hospital(session=s, actor=audit.CLI, key=key, code="H37150200001", name="聊城市人民医院", level=3)
    body = b'{"hello": 1}'
    ok = signed(client, "H37150200001", secret, body, nonce="a" * 16)
    assert ok.status_code == 200 and ok.json() == {"hospital": "H37150200001", "ok": True}
    replay = signed(client, "H37150200001", secret, body, nonce="a" * 16)
    assert (replay.status_code, replay.json()["code"]) == (401, "nonce_reused")
    stale = signed(client, "H37150200001", secret, body, nonce="b" * 16, stamp=int(time.time()) - 301)
    assert stale.json()["code"] == "timestamp_out_of_window"
    forged = signed(client, "H37150200001", "not the secret", body, nonce="c" * 16)
    assert forged.json()["code"] == "bad_signature"
    tampered = signed(client, "H37150200001", secret, body, nonce="d" * 16, send=b'{"hello": 2}')
    assert tampered.json()["code"] == "bad_signature"
    with client.app.state.db.session() as s:
        new = rotate_secret(session=s, actor=audit.CLI, key=key, code="H37150200001")
    assert signed(client, "H37150200001", new, body, nonce="e" * 16).status_code == 200
    assert signed(client, "H37150200001", secret, body, nonce="f" * 16).status_code == 200  # grace period
    missing = client.post("/api/v1/hospital/ping", content=body)
    assert missing.json()["code"] == "signature_missing"


def test_audit_chain_detects_changed_and_deleted_rows(client: TestClient, sign_in: Any) -> None:
    for role in ("admin", "actuary", "supervisor"):
        sign_in(role)
    db = client.app.state.db
    audit.seal_pending(db)
    with db.session() as s:
        assert audit.verify(session=s) == (3, None, None)
    with db.session() as s:
        s.execute(sa.update(AuditEntry).where(AuditEntry.id == 2).values(actor="mallory"))
    with db.session() as s:
        _, bad, why = audit.verify(session=s)
    assert bad == 2 and "改动" in (why or "")
    with db.session() as s:
        s.execute(sa.update(AuditEntry).where(AuditEntry.id == 2).values(actor="cli"))
        s.execute(sa.delete(AuditEntry).where(AuditEntry.id == 2))
    with db.session() as s:
        assert audit.verify(session=s)[1] == 3


def test_cli_users_hospital_and_audit(app_settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from huiminbao.settings import get_settings

    monkeypatch.setenv("HMB_DATABASE_URL", app_settings.database_url)
    get_settings.cache_clear()
    try:
        run_cli_checks(CliRunner())
    finally:
        get_settings.cache_clear()


def run_cli_checks(runner: CliRunner) -> None:
    made = runner.invoke(cli, ["users", "create", "--username", "root", "--role", "admin"], input=PASSWORD + "\n")
    assert made.exit_code == 0, made.output
    weak = runner.invoke(cli, ["users", "create", "--username", "r2", "--role", "admin"], input="short\n")
    assert weak.exit_code != 0 and "密码至少" in weak.output
    role = runner.invoke(cli, ["users", "create", "--username", "r3", "--role", "king"], input=PASSWORD + "\n")
    assert role.exit_code != 0
    added = runner.invoke(cli, ["hospital", "add", "--code", "H1", "--name", "测试医院", "--level", "2", "--json"])
    assert added.exit_code == 0, added.output
    body = json.loads(added.stdout)
    assert body["code"] == "H1" and len(body["secret"]) == 64
    again = runner.invoke(cli, ["hospital", "add", "--code", "H1", "--name", "测试医院"])
    assert again.exit_code != 0 and "已登记" in again.output
    verified = runner.invoke(cli, ["audit", "verify", "--json"])
    assert verified.exit_code == 0, verified.output
    assert json.loads(verified.stdout) == {"rows": 2, "intact": True, "first_bad_row": None, "problem": None}


@pytest.mark.slow
@pytest.mark.postgres
def test_audit_rows_cannot_be_changed_on_postgresql(pg_db_url: str) -> None:
    """On PostgreSQL the table itself refuses UPDATE and DELETE; SQLite relies on the chain check."""
    from huiminbao.db import migrate
    from huiminbao.db.session import Database

    migrate.upgrade(pg_db_url)
    db = Database.from_url(pg_db_url)
    try:
        with db.session() as s:
            audit.record(session=s, actor=audit.CLI, action="test", entity="test", entity_id="1")
        for statement in (sa.update(AuditEntry).values(actor="mallory"), sa.delete(AuditEntry)):
            with pytest.raises(sa.exc.DBAPIError, match="append-only"), db.session() as s:
                s.execute(statement)
        with db.session() as s:
            assert audit.verify(session=s)[1] is None
    finally:
        db.dispose()


def test_concurrent_writers_keep_one_audit_chain_on_postgresql(pg_db_url: str) -> None:
    """Eight connections writing at once: every entry sealed once, one unbroken chain (writers that
    chained to the last row under a row lock used to fork it), and unsealed content stays unchangeable."""
    from huiminbao.db import migrate
    from huiminbao.db.session import Database

    migrate.upgrade(pg_db_url)
    db = Database.from_url(pg_db_url)

    def write(worker: int) -> None:
        for i in range(25):
            with db.session() as s:
                audit.record(session=s, actor=audit.CLI, action="test", entity="worker", entity_id=f"{worker}-{i}")

    try:
        threads = [threading.Thread(target=write, args=(w,)) for w in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        with db.session() as s:
            assert audit.verify(session=s) == (200, None, None) and audit.unsealed(session=s) == 0
        with db.sessions() as s, s.begin():  # a unit of work that does not seal after it commits
            audit.record(session=s, actor=audit.CLI, action="test", entity="late", entity_id="x")
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), db.session() as s:
            s.execute(sa.update(AuditEntry).where(AuditEntry.seq.is_(None)).values(actor="mallory", seq=999))
        assert audit.seal_pending(db) == 1
        with db.session() as s:
            assert audit.verify(session=s) == (201, None, None)
    finally:
        db.dispose()


def test_logs_carry_request_id_user_and_route_but_no_personal_data(client: TestClient, sign_in: Any) -> None:
    """The traffic of a session with ID numbers, names and phone numbers in bodies, queries and paths leaves
    none of them in the logs; each request line has its id (answered as X-Request-ID), the user and the route."""
    from structlog.testing import capture_logs

    certno, name, phone = "11010519491231002X", "张三丰", "13812341234"
    headers = sign_in("clerk")
    case = json.loads((ROOT / "examples" / "liaocheng-2024-two-stays.json").read_text(encoding="utf-8"))
    case["person"] |= {"certno": certno, "psn_name": name}
    with capture_logs() as logs:
        res = client.post("/api/v1/estimate", json=case, headers=headers)
        client.get(f"/api/v1/plans/{certno}?name={name}&certno={certno}", headers=headers)
        client.post(
            "/api/v1/estimate",
            json={**case, "person": {**case["person"], "certno": "110105194912310021"}},
            headers=headers,
        )
        client.get(f"/plans/{certno}")
        client.get(f"/api/v1/persons/{phone}?reveal=true&phone={phone}", headers=headers)
        order = {"plan": "liaocheng-2024", "payer": "P1", "channel": "counter", "phone": phone}
        client.post(
            "/api/v1/policies", json={**order, "members": [{"psn_no": phone, "relation": "self"}]}, headers=headers
        )
        client.post("/api/v1/policies", json={**order, "phone": "138 1234 123", "members": []}, headers=headers)
    assert res.status_code == 200
    text = repr(logs)
    assert certno not in text and "110105194912310021" not in text and name not in text
    assert phone not in text and "138 1234 123" not in text
    lines = [e for e in logs if e.get("event") == "request"]
    assert lines[0]["user"] == "clerk-1" and lines[0]["role"] == "clerk" and lines[0]["route"] == "/api/v1/estimate"
    assert res.headers["x-request-id"] and all(e.get("request_id") for e in lines)


def test_keys_rotate_reencrypts_everything_without_downtime(
    app_settings: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Old key A, new key B: while both are in the ring everything reads; after `hmb keys rotate`
    B alone opens every ID number, name, phone and hospital secret."""
    from huiminbao.db.session import Database
    from huiminbao.enrollment.models import InsuredPerson
    from huiminbao.identity.models import Hospital
    from huiminbao.identity.pii import PiiError, decrypt_certno, decrypt_text, encrypt_certno, encrypt_text
    from huiminbao.settings import get_settings

    old, new = "00112233445566778899aabbccddeeff", "ffeeddccbbaa99887766554433221100"
    db = Database.from_url(app_settings.database_url)
    with db.session() as s:
        secret = add_hospital(session=s, actor=audit.CLI, key=bytes.fromhex(old), code="H1", name="测试医院")
        for k in range(3):
            s.add(
                InsuredPerson(
                    psn_no=f"P{k}", certno_hash=f"{k:064d}", certno_enc=encrypt_certno("11010519491231002X", old),
                    name_enc=encrypt_text("张三", old), content_hash="",
                    phone_enc=encrypt_text("13812341234", old) if k else None, phone_masked="138****1234" if k else None,
                    name_masked="张*", gender="1", birth_date=__import__("datetime").date(1949, 12, 31),
                    insutype="390", insu_admdvs="371502",
                )
            )  # fmt: skip
    monkeypatch.setenv("HMB_DATABASE_URL", app_settings.database_url)
    monkeypatch.setenv("HMB_PII_KEY", new)
    monkeypatch.setenv("HMB_PII_OLD_KEYS", old)
    get_settings.cache_clear()
    try:
        res = CliRunner().invoke(cli, ["keys", "rotate", "--batch", "2"])
    finally:
        get_settings.cache_clear()
    assert res.exit_code == 0, res.output
    with db.session() as s:
        for p in s.scalars(sa.select(InsuredPerson)):
            assert decrypt_certno(p.certno_enc, new) == "11010519491231002X"
            assert p.name_enc is not None and decrypt_text(p.name_enc, new) == "张三"
            assert p.phone_enc is None if p.psn_no == "P0" else decrypt_text(p.phone_enc, new) == "13812341234"
            for blob in (b for b in (p.certno_enc, p.name_enc, p.phone_enc) if b is not None):
                with pytest.raises(PiiError):
                    decrypt_text(blob, old)
        assert decrypt_text(s.get(Hospital, "H1").secret_enc, new) == secret
        assert audit.verify(session=s)[1] is None
    db.dispose()
