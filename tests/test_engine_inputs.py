"""The engine's own input checks, which do not rely on a reader having run first."""

from __future__ import annotations

import polars as pl
import pytest

from huiminbao.engine.adjudicate import adjudicate
from huiminbao.engine.prepare import EngineError
from huiminbao.plans import compiled_plan
from huiminbao.settlement.reader import check_settlements, json_frame
from tests.records import stay


@pytest.mark.parametrize("order", [["P1", "P2", "P1"], ["P1", "P1", "P2"]], ids=["unsorted", "sorted"])
def test_a_person_twice_among_the_insured_is_refused_in_any_order(order):
    settlements = check_settlements(json_frame([{**stay(inscp=30_000, funds=20_000), "psn_no": "P1"}]), "结算")
    with pytest.raises(EngineError, match=r"参保人 P1：.*重复出现"):
        adjudicate(compiled_plan("liaocheng-2024"), settlements, pl.DataFrame({"psn_no": order}))
    ok = adjudicate(compiled_plan("liaocheng-2024"), settlements, pl.DataFrame({"psn_no": ["P1", "P2", "P3"]}))
    assert ok.settlements["status"].to_list() == ["covered"]
