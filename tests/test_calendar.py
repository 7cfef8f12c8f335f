"""The 7-working-day clock: statutory holidays, make-up working days, the override table, pauses, the CLI."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import chinese_calendar
import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from huiminbao.calendar import (
    SHIPPED,
    OverrideFileError,
    WorkingCalendar,
    YearNotCovered,
    load_calendar,
    load_overrides,
)
from huiminbao.cli.main import app
from huiminbao.settings import get_settings
from tests.test_fuzz_parsers import assert_chinese

SEED_DAYS = 7  # 001: 于7个工作日内完成受理赔付
CAL = WorkingCalendar({}, "none.yaml")
runner = CliRunner()

# Illustrative, not the official 2027 notice: enough to exercise a year the package lacks.
YEAR_2027 = """\
years:
  - year: 2027
    citation: 示意数据（测试用，非官方）
    holidays:
      - 2027-01-01
      - 2027-02-06/2027-02-14
      - 2027-10-01/2027-10-07
    workdays:
      - 2027-02-20
      - 2027-10-09
"""


def table(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "overrides.yaml"
    path.write_text(text, encoding="utf-8")
    return path


# --- the seed's rule on concrete dates -------------------------------------------------


@pytest.mark.parametrize(
    ("start", "due"),
    [
        # 2025-09-28 is a make-up Sunday; 10-01..10-08 off (国庆 + 中秋); 10-11 a make-up Saturday
        (date(2025, 9, 28), date(2025, 10, 14)),
        (date(2025, 9, 30), date(2025, 10, 16)),
        # holidays 2026-02-15..23; 02-14 and 02-28 are make-up Saturdays
        (date(2026, 2, 13), date(2026, 3, 2)),
        (date(2026, 2, 15), date(2026, 3, 3)),
        # an ordinary week: Monday + 7 = next Wednesday
        (date(2025, 3, 3), date(2025, 3, 12)),
    ],
)
def test_seven_working_days_around_national_day_and_spring_festival(start: date, due: date):
    assert CAL.add_working_days(start, SEED_DAYS) == due
    assert CAL.working_days_between(start, due) == SEED_DAYS


def test_make_up_days_work_and_holidays_rest():
    assert CAL.is_working_day(date(2025, 9, 28))  # Sunday, worked
    assert CAL.is_working_day(date(2026, 2, 28))  # Saturday, worked
    assert not CAL.is_working_day(date(2025, 10, 8))  # Wednesday, 国庆
    assert not CAL.is_working_day(date(2026, 2, 23))  # Monday, 春节
    assert not CAL.is_working_day(date(2025, 10, 12))  # ordinary Sunday


def test_zero_working_days_is_the_start_itself():
    assert CAL.add_working_days(date(2025, 10, 1), 0) == date(2025, 10, 1)


def test_negative_working_days_are_refused():
    with pytest.raises(ValueError, match="不能为负"):
        CAL.add_working_days(date(2025, 10, 1), -1)


# --- years covered by neither: an error naming the year, never a guess ------------------


def test_a_year_the_package_lacks_is_an_error_naming_it():
    with pytest.raises(YearNotCovered, match="2027年") as err:
        CAL.add_working_days(date(2026, 12, 28), SEED_DAYS)
    assert err.value.year == 2027
    with pytest.raises(YearNotCovered, match="2003年"):
        CAL.is_working_day(date(2003, 6, 2))


def test_the_shipped_table_claims_no_year():
    assert load_overrides(SHIPPED) == {}


def test_the_override_table_carries_the_clock_into_its_year(tmp_path: Path):
    cal = load_calendar(table(tmp_path, YEAR_2027))
    # 2026-12-31 Thu: 2027-01-01 off, 01-04..01-08 (5), 01-11, 01-12
    assert cal.add_working_days(date(2026, 12, 31), SEED_DAYS) == date(2027, 1, 12)
    # 2027-02-05 Fri: 02-06..02-14 off, 02-15..19 (5), 02-20 make-up Saturday (6), 02-22 (7)
    assert cal.add_working_days(date(2027, 2, 5), SEED_DAYS) == date(2027, 2, 22)
    assert cal.year_source(2027) == "示意数据（测试用，非官方）"
    with pytest.raises(YearNotCovered, match="2028年"):
        cal.add_working_days(date(2027, 12, 28), SEED_DAYS)


def test_an_override_replaces_the_package_year(tmp_path: Path):
    cal = load_calendar(table(tmp_path, "years:\n  - year: 2025\n    citation: 更正\n    holidays: [2025-03-03]\n"))
    assert not cal.is_working_day(date(2025, 3, 3))
    assert not cal.is_working_day(date(2025, 9, 28))  # the package's make-up Sunday is the file's no more


@pytest.mark.parametrize(
    ("text", "field", "words"),
    [
        (
            "years:\n  - year: 2027\n    citation: x\n    holidays: [2026-12-31]\n",
            "years[0].holidays[0]",
            "不在 2027 年",
        ),
        (
            "years:\n  - year: 2027\n    citation: x\n    holidays: [2027-02-06/2027-02-14]\n    workdays: [2027-02-13]\n",
            "years[0].workdays[0]",
            "既放假又上班",
        ),
        (
            "years:\n  - year: 2027\n    citation: x\n    holidays: []\n    workdays: [2027-02-22]\n",
            "years[0].workdays[0]",
            "周六或周日",
        ),
        ("years:\n  - year: 2027\n    citation: x\n    holidays: [2027-02-31]\n", "years[0].holidays[0]", "不是日期"),
        (
            "years:\n  - year: 2027\n    citation: x\n    holidays: []\n    workdays: [2027-02-30]\n",
            "years[0].workdays[0]",
            "应为日期，写作 年-月-日（如 2024-01-01），实际为 “2027-02-30”",
        ),
        (
            "years:\n  - year: 2027\n    citation: x\n    holidays: [2027-10-07/2027-10-01]\n",
            "years[0].holidays[0]",
            "止日早于起日",
        ),
        (
            "years:\n  - year: 2027\n    citation: x\n    holidays: [2027-10-01, 2027-10-01/2027-10-03]\n",
            "years[0].holidays[1]",
            "重复",
        ),
        (
            "years:\n  - year: 2027\n    citation: ' '\n    holidays: []\n",
            "years[0].citation",
            "citation 应写明所依据的",
        ),
        ("years:\n  - year: 2027\n    holidays: []\n", "years[0].citation", "缺少此字段"),
        (
            "years:\n  - {year: 2027, citation: x, holidays: []}\n  - {year: 2027, citation: y, holidays: []}\n",
            "years[1].year",
            "已列过",
        ),
        ("years:\n  - {year: 2027, citation: x, holidays: [], rest: []}\n", "years[0].rest", "不认识的字段"),
        ("years: [\n", "(top)", "不是合法的 YAML：第 2 行第 1 列附近"),
    ],
)
def test_a_bad_override_file_names_the_file_and_field(tmp_path: Path, text: str, field: str, words: str):
    path = table(tmp_path, text)
    with pytest.raises(OverrideFileError) as err:
        load_overrides(path)
    assert f"{path}: {field}: " in str(err.value)
    assert words in str(err.value)
    assert_chinese([m for _, m in err.value.problems])


# --- properties -------------------------------------------------------------------------

starts = st.dates(min_value=date(2004, 1, 1), max_value=date(2026, 9, 30))
counts = st.integers(min_value=0, max_value=40)


@given(starts, st.integers(min_value=1, max_value=40))
def test_the_due_date_is_a_working_day_strictly_after_the_start(start: date, n: int):
    due = CAL.add_working_days(start, n)
    assert due > start
    assert CAL.is_working_day(due)
    assert CAL.working_days_between(start, due) == n
    assert CAL.working_days_between(start, due - timedelta(days=1)) == n - 1
    # the package's own search agrees: the (n-1)-th working day from the day after the start
    assert due == chinese_calendar.find_workday(n - 1, start + timedelta(days=1))


@given(starts, counts, counts)
def test_adding_in_two_steps_is_adding_at_once(start: date, a: int, b: int):
    assert CAL.add_working_days(CAL.add_working_days(start, a), b) == CAL.add_working_days(start, a + b)


@st.composite
def paused(draw: st.DrawFn) -> tuple[date, int, list[tuple[date, date]]]:
    start = draw(st.dates(min_value=date(2004, 1, 1), max_value=date(2026, 6, 30)))
    n = draw(st.integers(min_value=1, max_value=20))
    pauses = []
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        begin = start + timedelta(days=draw(st.integers(min_value=0, max_value=30)))
        pauses.append((begin, begin + timedelta(days=draw(st.integers(min_value=0, max_value=20)))))
    return start, n, pauses


@given(paused())
def test_pauses_only_push_the_due_date_later(case: tuple[date, int, list[tuple[date, date]]]):
    start, n, pauses = case
    due = CAL.add_working_days(start, n, pauses)
    assert due >= CAL.add_working_days(start, n)
    assert CAL.working_days_between(start, due, pauses) == n
    assert not any(p < due <= r for p, r in pauses)  # the clock runs out on a counted day


def test_waiting_for_documents_does_not_count():
    start = date(2025, 3, 3)  # Monday: documents complete
    # day 1 Tuesday, when documents were asked for; supplemented the next Monday (not counted, as a start)
    pauses = [(date(2025, 3, 4), date(2025, 3, 10))]
    assert CAL.add_working_days(start, SEED_DAYS, pauses) == date(2025, 3, 18)  # without the pause: 03-12
    assert CAL.working_days_between(start, date(2025, 3, 11), pauses) == 2
    with pytest.raises(ValueError, match="暂停"):
        CAL.add_working_days(start, SEED_DAYS, [(date(2025, 3, 1), date(2025, 3, 5))])


# --- the CLI ------------------------------------------------------------------------------


def test_cli_prints_the_due_date():
    res = runner.invoke(app, ["calendar", "due", "2025-09-28", "--working-days", "7"])
    assert res.exit_code == 0, res.output
    assert res.stdout == "2025-10-14\n"


def test_cli_json_is_one_document():
    res = runner.invoke(app, ["calendar", "due", "2026-02-13", "--working-days", "7", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout) == {
        "date": "2026-02-13",
        "working_days": 7,
        "due": "2026-03-02",
        "sources": {"2026": chinese_calendar_source()},
    }


def chinese_calendar_source() -> str:
    return f"chinesecalendar {chinese_calendar.__version__}"


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["2026-12-28", "--working-days", "7"], "2027年不在工作日历内"),
        (["2026-02-30", "--working-days", "7"], "DATE: 不是 YYYY-MM-DD 日期"),
        (["2026-02-13", "--working-days", "-1"], "--working-days: 不能为负"),
    ],
)
def test_cli_refuses_bad_input_in_one_line(args: list[str], words: str):
    res = runner.invoke(app, ["calendar", "due", *args])
    assert res.exit_code != 0
    assert res.stdout == ""
    assert words in res.stderr
    assert res.stderr.count("\n") == 1


def test_cli_reads_the_table_named_by_the_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("HMB_CALENDAR_FILE", str(table(tmp_path, YEAR_2027)))
    get_settings.cache_clear()
    try:
        res = runner.invoke(app, ["calendar", "due", "2026-12-31", "--working-days", "7", "--json"])
    finally:
        get_settings.cache_clear()
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["due"] == "2027-01-12"
    assert out["sources"] == {"2026": chinese_calendar_source(), "2027": "示意数据（测试用，非官方）"}


def test_cli_check_names_the_field(tmp_path: Path):
    good = runner.invoke(app, ["calendar", "check", str(table(tmp_path, YEAR_2027))])
    assert good.exit_code == 0, good.output
    assert "2027: 17 放假日, 2 调休上班日" in good.stdout
    bad = table(tmp_path, "years:\n  - year: 2027\n    citation: x\n    holidays: [2026-12-31]\n")
    res = runner.invoke(app, ["calendar", "check", str(bad)])
    assert res.exit_code != 0
    assert f"{bad}: years[0].holidays[0]: 2026-12-31 不在 2027 年" in res.stderr
