"""The demo's claims: ``hmb db load-demo`` on a small synthetic city leaves claims in every state (some past
due at the plan year's end), with real documents on disk, and a second run adds nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from huiminbao.claims import documents
from huiminbao.claims.models import Claim, ClaimDocument, ClaimState
from huiminbao.claims.states import OPEN
from huiminbao.db.session import Database
from huiminbao.plans import compiled_plan
from huiminbao.settings import get_settings


def _counts(url: str) -> tuple[dict[ClaimState, int], int, int]:
    db = Database.from_url(url)
    try:
        with db.session() as s:
            states = dict(s.execute(sa.select(Claim.state, sa.func.count()).group_by(Claim.state)).all())
            end = compiled_plan("liaocheng-2024").plan.cover_end
            overdue = s.scalar(
                sa.select(sa.func.count()).where(Claim.state.in_(OPEN), Claim.due_date < end).select_from(Claim)
            )
            docs = s.scalars(sa.select(ClaimDocument)).all()
            root = get_settings().documents_dir
            assert root is not None
            kinds = {documents.sniff(documents.read(d.sha256, root=root)) for d in docs}
            assert kinds == {documents.MediaType.PNG, documents.MediaType.PDF}
            return states, overdue or 0, len(docs)
    finally:
        db.dispose()


def test_load_demo_files_claims_in_every_state_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from huiminbao.cli.db import app

    monkeypatch.setenv("HMB_VAR_DIR", str(tmp_path))
    get_settings.cache_clear()
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    runner = CliRunner()
    try:
        assert runner.invoke(app, ["upgrade", "--url", url]).exit_code == 0
        result = runner.invoke(app, ["load-demo", "--url", url, "--persons", "1000"])
        assert result.exit_code == 0, result.output
        assert "claims: 300 bureau records kept" in result.output
        states, overdue, docs = _counts(url)
        assert set(states) == set(ClaimState), states
        assert overdue > 0
        result = runner.invoke(app, ["load-demo", "--url", url])
        assert result.exit_code == 0, result.output
        assert "claims: 0 bureau records kept, 0 claims filed" in result.output
        assert _counts(url) == (states, overdue, docs)
    finally:
        get_settings.cache_clear()
