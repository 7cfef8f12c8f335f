"""``hmb replay``: the demo city's year through the one-stop API with one command (issue 9).

The command starts the server for the replay, registers the city's hospitals, sends each settlement
signed by its hospital on concurrent connections (some late), and runs year-end; sent again, the year
pays nothing more.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from huiminbao.cli.main import app as cli
from huiminbao.cli.replay import arrival
from huiminbao.settings import get_settings, sqlite_url

PII, HASH = "00112233445566778899aabbccddeeff", "ffeeddccbbaa99887766554433221100"


@pytest.fixture
def demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    env = {
        "HMB_DATABASE_URL": sqlite_url(tmp_path / "hmb.db"), "HMB_PII_KEY": PII, "HMB_PII_HASH_KEY": HASH,
        "HMB_VAR_DIR": str(tmp_path / "var"), "HMB_TODAY": "2023-12-01", "HMB_SECRET_KEY": "s" * 40,
    }  # fmt: skip
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    runner = CliRunner()
    assert runner.invoke(cli, ["db", "upgrade"]).exit_code == 0
    loaded = runner.invoke(cli, ["db", "load-demo", "--persons", "400", "--no-claims", "--no-onestop"])
    assert loaded.exit_code == 0, loaded.output
    yield tmp_path / "var" / "demo"
    get_settings.cache_clear()


@pytest.mark.slow
def test_the_demo_year_is_replayed_through_the_api_once(demo: Path) -> None:
    args = ["replay", "--limit", "600", "--late", "0.05", "--senders", "8", "--year-end", "--json"]
    first = CliRunner().invoke(cli, args)
    assert first.exit_code == 0, first.output
    done = json.loads(first.output.strip().splitlines()[-1])
    assert done["sent"] >= 600 and done["settled"] > 0 and done["replayed"] == 0
    # the uninsured are refused at the desk, and so are the refunds of their refused stays
    assert set(done["refused"]) <= {"no_active_policy", "unknown_person", "unknown_original"}, done["refused"]
    assert done["year_end"]["settlements"] == done["settled"]
    again = json.loads(CliRunner().invoke(cli, args).output.strip().splitlines()[-1])
    assert (again["settled"], again["replayed"], again["payout"]) == (0, done["settled"], "0.00")
    assert again["year_end"]["adjustments"] == 0


def test_late_records_go_to_the_end_in_their_order() -> None:
    records = [{"n": i} for i in range(10)]
    moved = arrival(records, 0.2)
    assert sorted(r["n"] for r in moved) == list(range(10)) and moved != records
    late = [r["n"] for r in moved[-2:]]
    assert late == sorted(late) and [r["n"] for r in moved[:-2]] == [i for i in range(10) if i not in late]
