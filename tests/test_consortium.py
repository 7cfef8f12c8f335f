"""Plans say which insurers underwrite them (共保体).

The plans' consortia are illustrative: Liaocheng's (every year) is DEMO-A (lead), DEMO-B and DEMO-C;
Quzhou 2021's DEMO-D (lead) and DEMO-E; Zibo 2022's eleven insurers include DEMO-A and DEMO-D.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from huiminbao.plans import PlanError, list_plans, load_plan_file, underwritten_by
from huiminbao.plans.loader import DATA_DIR
from tests.test_onestop import PLAN

SETL_ID = "371500202406200002"
PATH = f"/api/v1/settlements/{SETL_ID}"
LIAOCHENG = {"liaocheng-2022", "liaocheng-2024", "liaocheng-2025"}
GOOD = yaml.safe_load((DATA_DIR / f"{PLAN}.yaml").read_text(encoding="utf-8"))


# --- the plan files ------------------------------------------------------------------


def problems(tmp_path: Path, change: Any) -> list[tuple[str, str]]:
    """The loader's problems with the Liaocheng 2024 file once ``change`` has edited its data."""
    data = copy.deepcopy(GOOD)
    change(data)
    path = tmp_path / "edited.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(PlanError) as caught:
        load_plan_file(path)
    assert caught.value.file == str(path) and str(path) in str(caught.value)
    return caught.value.problems


def members(data: dict) -> list[dict]:
    return data["consortium"]["members"]


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        (lambda d: d.pop("consortium"), "consortium", "Field required"),
        (lambda d: members(d)[2].update(share="20%"), "consortium.members", "sum to 100%; they sum to 95%"),
        (lambda d: members(d)[2].update(insurer_code="DEMO-A"), "consortium.members[2].insurer_code", "members[0]"),
        (lambda d: members(d)[0].pop("lead"), "consortium.members", "exactly one member must be the lead"),
        (lambda d: members(d)[1].update(lead=True), "consortium.members[1].lead", "members[0] is already the lead"),
        (lambda d: members(d)[0].update(share="140%"), "consortium.members[0].share", "0..100%"),
        (lambda d: members(d)[1].update(insurer_code="示例 乙"), "consortium.members[1].insurer_code", "pattern"),
        (lambda d: members(d)[1].pop("name"), "consortium.members[1].name", "Field required"),
        (lambda d: d["consortium"].update(members=[]), "consortium.members", "at least 1"),
        (lambda d: d["consortium"].pop("note"), "consortium", "needs a note"),
    ],
)
def test_a_bad_consortium_is_refused_naming_the_file_and_field(
    tmp_path: Path, change: Any, field: str, words: str
) -> None:
    found = problems(tmp_path, change)
    assert any(where == field and words in msg for where, msg in found), found


def test_every_shipped_plan_declares_its_consortium_as_illustrative() -> None:
    plans = list_plans()
    assert {p.id for p in plans} >= LIAOCHENG | {"quzhou-2021", "zibo-2022"}
    for p in plans:
        c = p.consortium
        assert c.lead is not None and sum(m.share for m in c.members) == 10_000, p.id
        assert c.status is not None and c.status.value == "illustrative" and c.cite and c.note, p.id
        assert any("共保体" in n and "示意" in n for n in p.notes), p.id
    assert underwritten_by("DEMO-A") == LIAOCHENG | {"zibo-2022"}
    assert underwritten_by("DEMO-D") == {"quzhou-2021", "zibo-2022"}
    assert underwritten_by(None) == underwritten_by("NOBODY") == frozenset()


def test_the_plan_shows_its_consortium(client: TestClient) -> None:
    shown = client.get(f"/api/v1/plans/{PLAN}").json()["consortium"]
    assert shown["members"][0] == {
        "insurer_code": "DEMO-A", "name": "示例甲财产保险股份有限公司", "share": "40%", "lead": True
    }  # fmt: skip
    page = client.get(f"/plans/{PLAN}").text
    assert "共保体" in page and "主承保机构" in page and "示例乙人寿保险股份有限公司" in page and "35%" in page
