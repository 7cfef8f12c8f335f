"""A broken plan file is explained in Chinese: the loader's, the validators', the expression checker's and
pydantic's own errors alike, each still naming the file and the field (issue 7).

"No English sentence" is checked as in test_fuzz_parsers: with quoted values taken out, no run of three
Latin words; the field names and identifiers a message mentions (overall_limit, lead: true) stay.
"""

from __future__ import annotations

import copy
import re
from datetime import date
from pathlib import Path
from typing import Any, Literal

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import AnyUrl, BaseModel, Field, ValidationError

from huiminbao.plans import PlanError, load_plan_file, messages
from huiminbao.plans.catalog import Catalog
from huiminbao.plans.loader import DATA_DIR
from huiminbao.plans.schema import Plan
from tests.test_fuzz_parsers import assert_chinese as chinese
from tests.test_fuzz_parsers import english, junk, paths, replaced

GOOD = yaml.safe_load((DATA_DIR / "liaocheng-2024.yaml").read_text(encoding="utf-8"))


def assert_chinese(problems: list[tuple[str, str]]) -> None:
    chinese([m for _, m in problems])


def test_the_check_tells_an_english_sentence_from_chinese_naming_fields() -> None:
    assert english("a limit cannot be shared; use the tier's overall_limit") == "a limit cannot be shared; use the tier"
    assert english("Field required") is None and not messages.has_cjk("Field required")
    assert english("额度不能共享；请使用档次的 overall_limit") is None
    assert english("表达式 “max(a, b) and not c”：and、or 两边都应为条件") is None


def tier(d: dict) -> dict:
    return d["tiers"][0]


def liability(d: dict, i: int = 0) -> dict:
    return tier(d)["liabilities"][i]


BROKEN: list[tuple[str, Any, str, str]] = [
    # pydantic's own errors, by type
    ("missing", lambda d: d.pop("name"), "name", "缺少此字段"),
    ("extra_forbidden", lambda d: d.update(nmae="x"), "nmae", "不认识的字段"),
    ("int_parsing", lambda d: d.update(year="twenty"), "year", "应为整数，实际为 “twenty”"),
    ("int_from_float", lambda d: d.update(year=2024.5), "year", "不能带小数"),
    ("string_type", lambda d: d.update(city=371500), "city", "应为文字"),
    ("bool_parsing", lambda d: d["follows_basic_insurance"].update(suspend="maybe"), "follows_basic_insurance.suspend",
     "应为 true 或 false"),
    ("date_parsing", lambda d: d["cover"].update(end="2024-13-45"), "cover.end", "应为日期，写作 年-月-日"),
    ("enum", lambda d: d.update(status="rumour"), "status", "应为 official、news、from_qa 或 illustrative 之一"),
    ("tuple_type", lambda d: d.update(sources="the bureau"), "sources", "应为列表"),
    ("model_type", lambda d: d.update(eligibility="everyone"), "eligibility", "应为映射"),
    ("dict_type", lambda d: d.update(catalogs=["x"]), "catalogs", "应为映射"),
    ("greater_than_equal", lambda d: d["enrollment"].update(waiting_days=-1), "enrollment.waiting_days",
     "应不小于 0"),
    ("string_too_short", lambda d: d["consortium"]["members"][0].update(name=""), "consortium.members[0].name",
     "至少应有 1 个字符"),
    ("too_short", lambda d: d["consortium"].update(members=[]), "consortium.members", "至少应有 1 项"),
    ("string_pattern_mismatch", lambda d: d.update(region_code="37150"), "region_code", "应为 6 位数字"),
    # the schema's own validators
    ("ratio", lambda d: liability(d).update(ratio="180%"), "tiers[0].liabilities[0].ratio.default", "应为 0 至 100% 的比例"),
    ("amount", lambda d: liability(d).update(deductible="lots"), "tiers[0].liabilities[0].deductible.amount",
     "应为以元为单位"),
    ("huge ratio", lambda d: liability(d).update(ratio="1e999999"), "tiers[0].liabilities[0].ratio.default", "比例"),
    ("figure note", lambda d: d["consortium"].pop("note"), "consortium", "需要 note"),
    ("amount kinds", lambda d: liability(d).update(limit={"amount": 1, "unknown": "x"}),
     "tiers[0].liabilities[0].limit", "应给且只给一个"),
    # the expression checker
    ("syntax", lambda d: liability(d).update(base="max(inscp_scp_amt"), "tiers[0].liabilities[0].base",
     "无法解析：第 4 个字符附近括号没有闭合"),
    ("not allowed", lambda d: liability(d).update(base="inscp_scp_amt * 2"), "tiers[0].liabilities[0].base",
     "不能使用乘法"),
    ("function", lambda d: liability(d).update(base="__import__('os')"), "tiers[0].liabilities[0].base",
     "只能调用函数"),
    ("unknown field", lambda d: liability(d).update(when="med_typ == '21'"), "tiers[0].liabilities[0].when",
     "未知字段 med_typ"),
    ("kinds", lambda d: liability(d).update(base="med_type == '21'"), "tiers[0].liabilities[0].base",
     "应为金额，而“med_type == '21'”是条件"),
    ("comparison", lambda d: liability(d).update(when="med_type == inscp_scp_amt"), "tiers[0].liabilities[0].when",
     "不能比较代码（文字）与金额"),
    ("unknown catalog", lambda d: liability(d).update(when="in_catalog(fixmedins_code, 'nope')"),
     "tiers[0].liabilities[0].when", "未声明的目录 nope"),
    # the loader's cross-checks
    ("shared limit", lambda d: liability(d, 1).update(limit={"shared": "x"}), "tiers[0].liabilities[1].limit.shared",
     "额度不能共享；请使用档次的 overall_limit"),
    ("default tier", lambda d: d.update(default_tier="gold"), "default_tier", "没有编号为 “gold” 的档次"),
    ("cover start", lambda d: d["cover"].pop("start"), "cover.start", "保障期间缺少起始日期"),
    ("duplicate ids", lambda d: liability(d, 1).update(id=liability(d)["id"]), "tiers[0].liabilities",
     "责任编号（id）不能重复"),
    ("precedence", lambda d: tier(d).update(precedence=["inpatient_inscope"]), "tiers[0].precedence",
     "应把每项责任各列一次"),
    ("catalog folder", lambda d: d["catalogs"][next(iter(d["catalogs"]))].update(file="../x.yaml"),
     "catalogs.{first}.file", "目录只写文件名"),
    ("catalog missing", lambda d: d["catalogs"][next(iter(d["catalogs"]))].update(file="nowhere.yaml"),
     "catalogs.{first}.file", "目录文件 nowhere.yaml 不能使用：找不到文件"),
    ("lead", lambda d: d["consortium"]["members"][0].pop("lead"), "consortium.members", "应有且只有一家主承保机构"),
]  # fmt: skip


@pytest.mark.parametrize(("kind", "change", "field", "words"), BROKEN, ids=[b[0] for b in BROKEN])
def test_each_kind_of_broken_plan_is_explained_in_chinese_by_file_and_field(
    tmp_path: Path, kind: str, change: Any, field: str, words: str
) -> None:
    data = copy.deepcopy(GOOD)
    change(data)
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(PlanError) as caught:
        load_plan_file(path)
    found = caught.value.problems
    field = field.format(first=next(iter(GOOD["catalogs"])))
    assert any(where == field and words in msg for where, msg in found), found
    assert f"{path}: {field}: " in str(caught.value)
    assert_chinese(found)


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"id: x\nname: [a, b\n", "不是合法的 YAML：第 3 行第 1 列附近方括号内缺少逗号或右方括号"),
        (b"id: x\n  name: y\n", "不是合法的 YAML：第 2 行第 7 列附近不能在此处写「键: 值」"),
        (b"id: x\n\tname: y\n", "缩进请用空格"),
        ("id: 聊城".encode("gbk"), "文件应为 UTF-8 编码"),
        (b"cover: {end: 2024-02-30}\n", "含有无法识别的值"),
        (b"- just\n- a list\n", "应为映射"),
    ],
)
def test_a_file_that_is_not_a_plan_at_all_is_explained_in_chinese(tmp_path: Path, content: bytes, words: str) -> None:
    path = tmp_path / "broken.yaml"
    path.write_bytes(content)
    with pytest.raises(PlanError) as caught:
        load_plan_file(path)
    assert any(words in msg for _, msg in caught.value.problems), caught.value.problems
    assert_chinese(caught.value.problems)


def test_a_missing_plan_file_is_explained_in_chinese(tmp_path: Path) -> None:
    with pytest.raises(PlanError) as caught:
        load_plan_file(tmp_path / "nowhere.yaml")
    assert caught.value.problems == [("", "找不到文件")]


class _Shape(BaseModel):
    kind: Literal["circle", "square"]
    size: int = Field(gt=0, lt=10)


class _Drawing(BaseModel):
    shape: _Shape
    when: date
    home: AnyUrl | None = None
    parts: list[dict[Literal["a", "b"], int]] = []


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ({"shape": {"kind": "star", "size": 1}, "when": "2024-01-01"}, "应为 circle 或 square 之一，实际为 “star”"),
        ({"shape": {"kind": "circle", "size": 0}, "when": "2024-01-01"}, "应大于 0，实际为 0"),
        ({"shape": {"kind": "circle", "size": 11}, "when": "2024-01-01"}, "应小于 10，实际为 11"),
        ({"shape": {"kind": "circle", "size": "big"}, "when": "2024-01-01"}, "应为整数，实际为 “big”"),
        ({"shape": {"kind": "circle", "size": 1}, "when": "2024-01-01T08:30"}, "应为日期，不能带时刻"),
        ({"shape": {"kind": "circle", "size": 1}, "when": "2024-01-01", "home": "::"}, "校验类型 url_parsing"),
    ],
)
def test_pydantic_errors_of_any_type_read_in_chinese(data: dict, words: str) -> None:
    """Types the plan schema does not use today (literals, bounds, URLs) still come out in Chinese: a
    translated template, or a Chinese sentence naming the type."""
    with pytest.raises(ValidationError) as caught:
        _Drawing.model_validate(data)
    found = messages.problems(caught.value)
    assert any(words in msg for _, msg in found), found
    assert_chinese(found)


def test_every_field_pattern_of_plans_and_catalogs_is_described_in_words() -> None:
    def patterns(model: type[BaseModel], seen: set[type]) -> set[str]:
        out: set[str] = set()
        seen.add(model)
        for info in model.model_fields.values():
            out |= {m.pattern for m in info.metadata if getattr(m, "pattern", None)}
            for inner in re.findall(r"huiminbao\.[\w.]+", repr(info.annotation)):
                module, _, name = inner.rpartition(".")
                sub = getattr(__import__(module, fromlist=[name]), name, None)
                if isinstance(sub, type) and issubclass(sub, BaseModel) and sub not in seen:
                    out |= patterns(sub, seen)
        return out

    found = patterns(Plan, set()) | patterns(Catalog, set())
    assert len(found) >= 4 and found <= set(messages.PATTERN_WORDS), found - set(messages.PATTERN_WORDS)


PLAUSIBLE = st.sampled_from(
    ["twenty", -1, 2024.5, "180%", "2024-13-45", "max(", "a * b", "inscp_scp_amt == '1'", [], {}, "", None, True]
)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    where=st.sampled_from(paths(GOOD)[1:]),
    how=st.sampled_from(["replace", "drop", "extra"]),
    new=junk | PLAUSIBLE,
)
def test_any_mutated_shipped_plan_is_explained_in_chinese(
    tmp_path_factory: Any, where: tuple, how: str, new: Any
) -> None:
    """A field of a shipped plan replaced (by junk or a plausible mistake), dropped, or given an unknown
    sibling: whatever the loader refuses, it says in Chinese."""
    data = copy.deepcopy(GOOD)
    parent = data
    for key in where[:-1]:
        parent = parent[key]
    if how == "replace":
        data = replaced(GOOD, where, new)
    elif how == "drop" and isinstance(parent, dict):
        del parent[where[-1]]
    elif isinstance(parent, dict):
        parent[f"{where[-1]}_x"] = new
    path = tmp_path_factory.mktemp("plan") / "mutated.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    try:
        load_plan_file(path)
    except PlanError as exc:
        assert exc.file == str(path) and exc.problems
        assert_chinese(exc.problems)
