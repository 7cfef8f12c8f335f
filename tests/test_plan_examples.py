"""Every plan's worked examples (plans/data/<id>.tests.yaml), each a sentence of its source, as tests."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from huiminbao.cli.main import app
from huiminbao.plans import list_plans
from huiminbao.settlement.examples import Example, examples_file, load_examples, run_example

CASES = [
    pytest.param(p.id, ex, id=f"{p.id}:{ex.name}")
    for p in list_plans()
    if examples_file(p.id).exists()
    for ex in load_examples(examples_file(p.id))
]


def test_every_plan_has_worked_examples():
    assert {p.id for p in list_plans()} == {c.values[0] for c in CASES}


@pytest.mark.parametrize(("plan_id", "example"), CASES)
def test_plan_example(plan_id: str, example: Example):
    assert run_example(plan_id, example) == []


def test_a_wrong_expectation_is_reported_by_hmb_plan_test(tmp_path, monkeypatch):
    case = next(ex for pid, ex in (c.values for c in CASES) if pid == "liaocheng-2024" and "限额" in ex.name)
    wrong = case.model_copy(update={"expect": case.expect.model_copy(update={"total_payout": "999.00"})})
    assert run_example("liaocheng-2024", wrong) == ["total_payout: expected '999.00', got '1000000.00'"]
    res = CliRunner().invoke(app, ["plan", "test", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout) == {"passed": len(CASES), "failed": []}
