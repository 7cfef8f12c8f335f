"""``hmb settle --file``: the bureau's file through the one-stop path; sent twice, or killed and sent
again, it pays exactly what one uninterrupted run pays."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from huiminbao.cli.main import app as cli
from huiminbao.db import Database, migrate
from huiminbao.enrollment.roster_store import Keys
from huiminbao.settings import Settings, get_settings, sqlite_url
from huiminbao.settlement.estimate import estimate
from huiminbao.settlement.models import Accumulator, Settlement
from tests.test_onestop import CASE, prepare, record, refund_of, scaled

PII = "00112233445566778899aabbccddeeff"
HASH = "ffeeddccbbaa99887766554433221100"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """A migrated SQLite database with the roster, P1's policy and the hospitals; the CLI's settings."""
    url = sqlite_url(tmp_path / "hmb.db")
    for name, value in {"HMB_DATABASE_URL": url, "HMB_PII_KEY": PII, "HMB_PII_HASH_KEY": HASH}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("HMB_VAR_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    migrate.upgrade(url)
    db = Database.from_url(url)
    prepare(db, tmp_path, Keys(encrypt=bytes.fromhex(PII), hash=bytes.fromhex(HASH)), bytes.fromhex(PII))
    db.dispose()
    yield get_settings()
    get_settings.cache_clear()


def write(path: Path, bodies: list[dict[str, Any]]) -> None:
    """The bodies as the bureau's CSV files: settlements (diseases joined by ';') and their fee lines."""
    rows = [{**b["setlinfo"], "diseases": ";".join(b["diseases"])} for b in bodies]
    names = list(dict.fromkeys(k for r in rows for k in r))
    pl.DataFrame([{n: r.get(n) for n in names} for r in rows], schema=dict.fromkeys(names, pl.Utf8)).write_csv(path)
    lines = [{"setl_id": b["setlinfo"]["setl_id"], **ln} for b in bodies for ln in b["feedetl"]]
    if lines:
        pl.DataFrame(lines).write_csv(path.with_name("feedetl.csv"))


def state(url: str) -> tuple[list[tuple[str, int, str]], dict[str, int]]:
    db = Database.from_url(url)
    with db.session() as s:
        done = s.execute(
            sa.select(Settlement.setl_id, Settlement.payout_fen, Settlement.response).order_by(Settlement.setl_id)
        ).all()
        accs = dict(s.execute(sa.select(Accumulator.key, Accumulator.value)).all())
    db.dispose()
    return [tuple(r) for r in done], accs


def test_a_file_pays_what_the_api_pays_and_sent_again_pays_nothing(env: Settings, tmp_path: Path) -> None:
    bad = record(1, setl_id="BAD1", medfee_sumamt="1.00")
    write(tmp_path / "setl.csv", [record(1), refund_of(record(1), "R1"), record(0), bad])
    args = ["settle", "--file", str(tmp_path / "setl.csv"), "--fee-lines", str(tmp_path / "feedetl.csv"), "--json"]
    first = CliRunner().invoke(cli, args)
    assert first.exit_code == 1, first.output
    summary = json.loads(first.stdout)
    assert summary | {"report": None} == {"settled": 3, "replayed": 0, "refused": 1, "payout": "0.00", "report": None}
    refused = pl.read_csv(summary["report"], infer_schema=False)
    assert refused.row(0, named=True) | {"message": ""} == {
        "line": "5", "setl_id": "BAD1", "code": "invalid_record", "field": "medfee_sumamt", "message": "",
    }  # fmt: skip
    done, _ = state(env.database_url)
    paid = {setl: json.loads(response)["payout"] for setl, _, response in done}
    want = estimate({**CASE, "person": {**CASE["person"], "certno": None}})["settlements"]
    assert paid == {
        want[0]["setl_id"]: want[0]["payout"],
        want[1]["setl_id"]: want[1]["payout"],
        "R1": f"-{want[1]['payout']}",
    }
    again = CliRunner().invoke(cli, args)
    assert json.loads(again.stdout)["replayed"] == 3 and json.loads(again.stdout)["settled"] == 0
    assert state(env.database_url) == (done, state(env.database_url)[1])


@pytest.mark.slow
def test_killed_in_the_middle_and_sent_again_ends_as_one_run(env: Settings, tmp_path: Path) -> None:
    bodies = [scaled(k, 20) for k in range(40)]
    bodies.append(refund_of(bodies[3], "R0003"))  # in July, between the stays by setl_time
    write(tmp_path / "year.csv", bodies)
    copy = tmp_path / "copy.db"
    copy.write_bytes((tmp_path / "hmb.db").read_bytes())
    cmd = [sys.executable, "-m", "huiminbao.cli.main", "settle", "--file", str(tmp_path / "year.csv"), "--json"]
    killed = subprocess.Popen(cmd, env=os.environ.copy(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(state(env.database_url)[0]) < 8:
        time.sleep(0.05)
    killed.send_signal(signal.SIGKILL)
    killed.wait(10)
    partial = len(state(env.database_url)[0])
    assert 8 <= partial < len(bodies), "killed in the middle"
    rerun = subprocess.run(cmd, env=os.environ.copy(), capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert json.loads(rerun.stdout)["replayed"] == partial
    whole = subprocess.run(
        cmd, env={**os.environ, "HMB_DATABASE_URL": sqlite_url(copy)}, capture_output=True, text=True, timeout=300
    )
    assert whole.returncode == 0, whole.stderr
    assert state(env.database_url) == state(sqlite_url(copy))
