"""The override table: holidays and make-up working days for years the package does not know.

A YAML file (default: the one shipped beside this module; ``HMB_CALENDAR_FILE`` names
another) lists years, each with the State Council notice it copies (``citation``), its
holidays (dates, or ``FROM/TO`` ranges as the notice writes them) and its make-up working
days. It is checked whole on load; every problem names the file and the field, e.g.
``years[0].workdays[1]``.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from huiminbao.calendar.workdays import SATURDAY, CalendarError, WorkingCalendar, YearRule
from huiminbao.plans import messages
from huiminbao.settings import get_settings

SHIPPED = Path(__file__).with_name("data") / "overrides.yaml"


class OverrideFileError(CalendarError):
    """An override file that does not validate; ``problems`` are (field path, message)."""

    def __init__(self, file: str, problems: list[tuple[str, str]]):
        self.file = file
        self.problems = problems
        super().__init__("\n".join(f"{file}: {path or '(top)'}: {msg}" for path, msg in problems))


class _Loader(yaml.SafeLoader):
    """Dates stay text, so a bad one is reported at its field instead of failing the whole parse."""


_Loader.add_constructor("tag:yaml.org,2002:timestamp", yaml.SafeLoader.construct_scalar)


class _Year(BaseModel):
    model_config = ConfigDict(extra="forbid")

    year: int = Field(ge=1900, le=2100)
    citation: str = Field(min_length=1, description="the notice the dates are copied from")
    holidays: list[str] = Field(description="rest days: dates, or FROM/TO ranges (both included)")
    workdays: list[date] = Field(default_factory=list, description="weekend days worked instead (调休上班)")

    @field_validator("citation")
    @classmethod
    def _stripped(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("citation 应写明所依据的国务院办公厅通知")
        return value.strip()


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")

    years: list[_Year]


def _expand(item: str) -> list[date]:
    """A date, or the days of a ``FROM/TO`` range; ValueError says what is wrong with it."""
    parts = item.split("/")
    try:
        if len(parts) > 2:
            raise ValueError
        first, last = date.fromisoformat(parts[0].strip()), date.fromisoformat(parts[-1].strip())
    except ValueError:
        raise ValueError(f"不是日期，也不是 起/止 区间：{item!r}") from None
    if last < first:
        raise ValueError(f"区间 {item!r} 止日早于起日")
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def _rule(entry: _Year, where: str, problems: list[tuple[str, str]]) -> YearRule:
    holidays: dict[date, str] = {}
    for i, item in enumerate(entry.holidays):
        try:
            days = _expand(item)
        except ValueError as exc:
            problems.append((f"{where}.holidays[{i}]", str(exc)))
            continue
        for d in days:
            if d.year != entry.year:
                problems.append((f"{where}.holidays[{i}]", f"{d} 不在 {entry.year} 年"))
            elif d in holidays:
                problems.append((f"{where}.holidays[{i}]", f"{d} 与 {holidays[d]} 重复"))
            holidays[d] = f"holidays[{i}]"
    workdays: set[date] = set()
    for i, d in enumerate(entry.workdays):
        field = f"{where}.workdays[{i}]"
        if d.year != entry.year:
            problems.append((field, f"{d} 不在 {entry.year} 年"))
        if d in holidays:
            problems.append((field, f"{d} 同时列在 {holidays[d]}（既放假又上班）"))
        if d.weekday() < SATURDAY:
            problems.append((field, f"{d} 是工作日，调休上班日应是周六或周日"))
        if d in workdays:
            problems.append((field, f"{d} 重复"))
        workdays.add(d)
    return YearRule(entry.year, frozenset(holidays), frozenset(workdays), entry.citation)


def load_overrides(path: Path) -> dict[int, YearRule]:
    """Read and check the file; raise OverrideFileError naming the file and every bad field."""
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)
    except yaml.YAMLError as exc:
        raise OverrideFileError(str(path), [("", messages.yaml_message(exc))]) from exc
    except (ValueError, OSError) as exc:  # ValueError: not UTF-8
        raise OverrideFileError(str(path), [("", messages.read_message(exc))]) from exc
    try:
        parsed = _File.model_validate(data)
    except ValidationError as exc:
        raise OverrideFileError(str(path), messages.problems(exc)) from exc
    problems: list[tuple[str, str]] = []
    rules: dict[int, YearRule] = {}
    for i, entry in enumerate(parsed.years):
        rule = _rule(entry, f"years[{i}]", problems)
        if entry.year in rules:
            problems.append((f"years[{i}].year", f"{entry.year} 年已列过"))
        rules[entry.year] = rule
    if problems:
        raise OverrideFileError(str(path), problems)
    return rules


def load_calendar(path: Path) -> WorkingCalendar:
    """The package's calendar with the file's years over it."""
    return WorkingCalendar(load_overrides(path), str(path))


@lru_cache(maxsize=4)
def _cached(path: str, mtime: float) -> WorkingCalendar:
    return load_calendar(Path(path))


def default_calendar() -> WorkingCalendar:
    """The platform's calendar: ``HMB_CALENDAR_FILE`` or the shipped table, read again when it changes."""
    path = get_settings().calendar_file or SHIPPED
    try:
        mtime = path.stat().st_mtime
    except OSError as exc:
        raise OverrideFileError(str(path), [("", f"无法读取：{exc.strerror}")]) from exc
    return _cached(str(path), mtime)
