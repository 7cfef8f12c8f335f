"""Plan tests as data: the worked examples beside each plan file, run through the estimate.

``plans/data/<id>.tests.yaml`` lists cases, each with the sentence of the source it proves
(``cite``), a case in the shape ``hmb estimate`` takes (the plan id is implied by the file),
and what must come out: the total, per settlement its payout, status and reason, per
liability line its amounts and reason (a reason is matched as a substring), or the error
the case must be refused with. ``hmb plan test`` and pytest run them, so a plan file and
the sentences it encodes are checked together whenever either changes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, RootModel, ValidationError

from huiminbao.engine.prepare import EngineError
from huiminbao.plans import PlanError, PlanIncomplete, PlanNotFound, compiled_plan, messages
from huiminbao.plans.loader import TESTS_SUFFIX
from huiminbao.settlement.estimate import estimate
from huiminbao.settlement.reader import RecordError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ExpectLine(_Strict):
    base: str | None = None
    counted: str | None = None
    deductible_used: str | None = None
    entitled: str | None = None
    payout: str | None = None
    reason: str | None = None  # a substring of the line's reason; "" means no reason at all


class ExpectSettlement(_Strict):
    payout: str | None = None
    status: str | None = None
    reason: str | None = None
    lines: dict[str, ExpectLine] = {}


class Expect(_Strict):
    total_payout: str | None = None
    settlements: dict[str, ExpectSettlement] = {}
    error: str | None = None  # the case must be refused with a message containing this


class Example(_Strict):
    name: str
    cite: str = Field(min_length=1)
    case: dict[str, Any]
    expect: Expect


Examples = RootModel[list[Example]]


def examples_file(plan_id: str) -> Path:
    """The worked examples beside the plan's file."""
    plan_file = Path(compiled_plan(plan_id).file)
    return plan_file.with_name(plan_file.stem + TESTS_SUFFIX)


def load_examples(path: Path) -> list[Example]:
    """Read and validate a tests file; errors name the file and the field."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        return Examples.model_validate(data).root
    except yaml.YAMLError as exc:
        raise PlanError(str(path), [("", messages.yaml_message(exc))]) from exc
    except ValidationError as exc:
        raise PlanError(str(path), messages.problems(exc)) from exc


def _compare(where: str, want: BaseModel, got: dict[str, Any]) -> list[str]:
    out = []
    for key, expected in want.model_dump(exclude_none=True, exclude={"lines"}).items():
        value = got.get(key)
        if key == "reason":
            ok = (value or "") == "" if expected == "" else expected in (value or "")
        else:
            ok = value == expected
        if not ok:
            out.append(f"{where}.{key}: expected {expected!r}, got {value!r}")
    return out


def run_example(plan_id: str, example: Example) -> list[str]:
    """Run one case; return its mismatches (empty when it passes)."""
    case = {"plan": plan_id, **example.case}
    try:
        result = estimate(case)
    except (RecordError, EngineError, PlanIncomplete, PlanNotFound) as exc:
        if example.expect.error and example.expect.error in str(exc):
            return []
        return [f"refused: {exc}"]
    if example.expect.error:
        return [f"expected the error {example.expect.error!r}, got total {result['total_payout']}"]
    problems = []
    if example.expect.total_payout is not None and result["total_payout"] != example.expect.total_payout:
        problems.append(f"total_payout: expected {example.expect.total_payout!r}, got {result['total_payout']!r}")
    by_id = {s["setl_id"]: s for s in result["settlements"]}
    for setl_id, want in example.expect.settlements.items():
        got = by_id.get(setl_id)
        if got is None:
            problems.append(f"settlement {setl_id}: not in the result")
            continue
        problems += _compare(f"{setl_id}", want, got)
        lines = {x["liability"]: x for x in got["lines"]}
        for liability, want_line in want.lines.items():
            if liability not in lines:
                problems.append(f"{setl_id}.{liability}: no such line")
                continue
            problems += _compare(f"{setl_id}.{liability}", want_line, lines[liability])
    return problems
