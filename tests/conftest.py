"""Shared fixtures: a throwaway PostgreSQL server, app clients on temporary databases, a browser.

Servers and browsers are real (Debian's PostgreSQL 15 and Chromium), not mocks, so the
tests see what production sees. Outside CI a missing binary skips the tests that need
it, with the apt command to fix it; under CI=true it fails, so CI can never go green by
skipping them.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from huiminbao.db.pgcluster import free_port

# Fixed test keys, set before any settings are read, so no test writes ./var/dev-keys.json.
os.environ.setdefault("HMB_SECRET_KEY", "test-secret-key-of-at-least-32-bytes-for-hs256")
os.environ.setdefault("HMB_PII_KEY", "00112233445566778899aabbccddeeff")
os.environ.setdefault("HMB_PII_HASH_KEY", "ffeeddccbbaa99887766554433221100")
os.environ.setdefault("HMB_PAYMENT_SECRET", "test-payment-gateway-secret")
os.environ.setdefault("HMB_ACTUARIAL_KEY", "0f1e2d3c4b5a69788796a5b4c3d2e1f0")

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = ROOT / "var" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-gpu",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def missing(what: str) -> None:
    """Skip locally, fail under CI: a missing system dependency must not pass CI."""
    if IN_CI:
        pytest.fail(f"{what} (CI=true: failing instead of skipping)")
    pytest.skip(what)


@pytest.fixture
def unused_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    return free_port()


# --- PostgreSQL ---------------------------------------------------------------------


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """URL of the ``postgres`` database on a PostgreSQL cluster started for this test session."""
    from huiminbao.db.pgcluster import ClusterError, bindir, temporary_cluster

    if bindir() is None:
        missing("PostgreSQL server binaries not found; apt-get install -y postgresql")
    try:
        with temporary_cluster() as url:
            yield url
    except ClusterError as exc:
        pytest.fail(str(exc))


@contextlib.contextmanager
def fresh_database(pg_url: str) -> Iterator[str]:
    """A fresh, empty database on the PostgreSQL server of ``pg_url``, dropped afterwards."""
    import sqlalchemy as sa

    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield pg_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def pg_db_url(pg_url: str) -> Iterator[str]:
    """A fresh, empty database on the session's PostgreSQL server, dropped afterwards."""
    with fresh_database(pg_url) as url:
        yield url


@pytest.fixture(
    params=["sqlite", pytest.param("postgres", marks=[pytest.mark.slow, pytest.mark.postgres])],
)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database URL, once on SQLite and once on PostgreSQL."""
    if request.param == "postgres":
        return str(request.getfixturevalue("pg_db_url"))
    return f"sqlite:///{tmp_path / 'test.db'}"


# --- the app ------------------------------------------------------------------------


@pytest.fixture
def app_settings(tmp_path: Path) -> Any:
    """Settings for an app on a migrated temporary SQLite database."""
    from huiminbao.db import migrate
    from huiminbao.settings import Settings, sqlite_url

    settings = Settings(var_dir=tmp_path / "var", database_url=sqlite_url(tmp_path / "app.db"))
    migrate.upgrade(settings.database_url)
    return settings


@pytest.fixture
def client(app_settings: Any) -> Iterator[Any]:
    """A FastAPI TestClient on a fresh migrated SQLite database."""
    from fastapi.testclient import TestClient

    from huiminbao.api.app import create_app

    with TestClient(create_app(app_settings)) as c:
        yield c


@pytest.fixture
def live_server(app_settings: Any) -> Iterator[str]:
    """The app served by a real uvicorn on a free loopback port, in a thread; yields its base URL."""
    import uvicorn

    from huiminbao.api.app import create_app

    port = free_port()
    config = uvicorn.Config(create_app(app_settings), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


# --- the browser --------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's headless Chromium driven by Playwright (its own browser download is never used)."""
    if not Path(CHROMIUM).exists():
        missing(f"{CHROMIUM} not found; apt-get install -y chromium fonts-wqy-zenhei")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("playwright is not installed; pip install -e '.[test]'")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            with contextlib.suppress(Exception):
                b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser context and page, zh-CN, closed after the test."""
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 800})
    pg = context.new_page()
    try:
        yield pg
    finally:
        context.close()


# --- users ---------------------------------------------------------------------------


PASSWORD = "correct horse 42"


def browser_sign_in(page: Any, base: str, username: str) -> None:
    """Sign ``username`` (password ``PASSWORD``) in through the sign-in page, as a person would."""
    page.goto(base + "/login")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_load_state()


def csrf(client: Any) -> str:
    """The CSRF token a page gives this client (as its cookie), for the forms a test posts."""
    if "hmb_csrf" not in client.cookies:
        client.get("/login")
    return str(client.cookies["hmb_csrf"])


@pytest.fixture
def sign_in(client: Any) -> Any:
    """``sign_in(role, **links)``: a user of that role in the app's database, signed in through
    ``POST /api/v1/auth/token``; returns the Authorization header."""
    from huiminbao.identity import audit
    from huiminbao.identity.models import Role
    from huiminbao.identity.service import add_hospital, create_user

    made: dict[str, dict[str, str]] = {}

    def make(role: str = "admin", **links: str) -> dict[str, str]:
        name = f"{role}-{len(made) + 1}"
        with client.app.state.db.session() as s:
            if role == "hospital" and "hospital_code" not in links:
                links["hospital_code"] = f"H{len(made) + 1:05d}"
                key = client.app.state.settings.pii_key_bytes
                add_hospital(session=s, actor=audit.CLI, key=key, code=links["hospital_code"], name="测试医院")
            defaults = {"resident": {"psn_no": "P1"}, "clerk": {"insurer_code": "PICC"}}
            defaults |= {"adjuster": {"insurer_code": "DEMO-A"}, "finance": {"insurer_code": "DEMO-A"}}
            links = {**defaults.get(role, {}), **links}
            create_user(session=s, actor=audit.CLI, username=name, role=Role(role), password=PASSWORD, **links)
        token = client.post("/api/v1/auth/token", data={"username": name, "password": PASSWORD}).json()
        form = {"username": name, "password": PASSWORD, "csrf_token": csrf(client)}
        assert client.post("/login", data=form, follow_redirects=False).status_code == 303  # the web session too
        made[name] = {"Authorization": f"Bearer {token['access_token']}"}
        return made[name]

    return make
