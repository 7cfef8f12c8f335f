"""The demo's claims: ``hmb db load-demo`` on a small synthetic city leaves claims in every state (some past
due at the plan year's end), with real documents on disk, settles the holders' other stays one-stop, opens
complaints and inquiries in every state, and a second run adds nothing."""

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
from huiminbao.settlement.models import Settlement, SettlementSource


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


def _sources(url: str) -> set[SettlementSource]:
    db = Database.from_url(url)
    try:
        with db.session() as s:
            return set(s.scalars(sa.select(Settlement.source).distinct()))
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
        settled = int(result.output.split("one-stop: ")[1].split()[0])
        assert settled > 0 and "300 held by the claims" in result.output and "refused: none" in result.output
        states, overdue, docs = _counts(url)
        assert _sources(url) == {SettlementSource.CLAIM, SettlementSource.FILE}
        cases = result.output.split("service cases: ")[1].splitlines()[0]
        assert cases.startswith("48 opened") and " 0 overdue" not in cases, cases
        assert all(
            f"{s} 0," not in cases and f"{s} 0;" not in cases for s in ("open", "answered", "escalated", "closed")
        )
        assert set(states) == set(ClaimState), states
        assert overdue > 0
        result = runner.invoke(app, ["load-demo", "--url", url])
        assert result.exit_code == 0, result.output
        assert "claims: 0 bureau records kept, 0 claims filed" in result.output
        assert "policies: 0 made" in result.output and "one-stop: 0 settled now" in result.output
        assert f"{settled} settled before" in result.output and "service cases: 0 opened" in result.output
        assert _counts(url) == (states, overdue, docs)
    finally:
        get_settings.cache_clear()
