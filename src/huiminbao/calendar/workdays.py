"""China's statutory working days, and clocks counted in them.

A claim must be paid "within 7 working days" (于7个工作日内完成受理赔付). Working days are
Monday to Friday, less the statutory holidays, plus the weekend days the State Council's
yearly notice turns into make-up working days (调休上班). Those change every year, so they
come from data: the ``chinesecalendar`` package for the years it knows, and an override
table (``YearRule``) for the others; an override replaces the package's whole year, so a
newly published notice can be added before the package catches up. A date in a year that
neither knows raises ``YearNotCovered``: a deadline is never guessed from weekdays alone.

Counting follows the seed's rule: the day the clock starts is not counted, the first
working day after it is day 1. A pause (waiting for documents) runs from ``paused_from``
to ``resumed_on``: the working days after ``paused_from`` up to and including
``resumed_on`` do not count, so resuming is like starting again (the day the documents
arrived is not counted), while the day the pause began was a day of the clock.

Pure: no I/O, no settings; ``overrides.py`` reads the table from its file.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import chinese_calendar

PACKAGE = f"chinesecalendar {chinese_calendar.__version__}"
PACKAGE_YEARS = range(min(chinese_calendar.holidays).year, max(chinese_calendar.holidays).year + 1)
SATURDAY = 5
ONE_DAY = timedelta(days=1)

Pause = tuple[date, date]


class CalendarError(ValueError):
    """The working-day calendar cannot answer (base of this module's errors)."""


class YearNotCovered(CalendarError):
    """A date in a year neither the package nor the override table covers; ``year`` names it."""

    def __init__(self, year: int, overrides: str, override_years: Iterable[int]):
        self.year = year
        known = "、".join(str(y) for y in sorted(override_years)) or "无"
        super().__init__(
            f"{year}年不在工作日历内：{PACKAGE} 只含 {PACKAGE_YEARS.start}–{PACKAGE_YEARS.stop - 1} 年，"
            f"覆盖表 {overrides} 含：{known}；请按国务院办公厅当年的部分节假日安排通知在覆盖表中加入{year}年"
        )


@dataclass(frozen=True)
class YearRule:
    """One year's statutory holidays and make-up working days, as its notice states them."""

    year: int
    holidays: frozenset[date]
    workdays: frozenset[date]
    citation: str

    def is_working_day(self, d: date) -> bool:
        if d in self.workdays:
            return True
        return d not in self.holidays and d.weekday() < SATURDAY


class WorkingCalendar:
    """The package's years, with the override table's years taking precedence."""

    def __init__(self, overrides: Mapping[int, YearRule], source: str):
        self.overrides = dict(overrides)
        self.source = source  # where the overrides came from, for error messages
        self._known: dict[date, bool] = {}  # days already decided: a queue page counts thousands of them

    def covers(self, year: int) -> bool:
        return year in self.overrides or year in PACKAGE_YEARS

    def year_source(self, year: int) -> str:
        """What decides the year's working days: the override's citation or the package."""
        if year in self.overrides:
            return self.overrides[year].citation
        if year in PACKAGE_YEARS:
            return PACKAGE
        raise YearNotCovered(year, self.source, self.overrides)

    def is_working_day(self, d: date) -> bool:
        known = self._known.get(d)
        if known is None:
            known = self._known[d] = self._decide(d)
        return known

    def _decide(self, d: date) -> bool:
        rule = self.overrides.get(d.year)
        if rule is not None:
            return rule.is_working_day(d)
        if d.year not in PACKAGE_YEARS:
            raise YearNotCovered(d.year, self.source, self.overrides)
        return bool(chinese_calendar.is_workday(d))

    def add_working_days(self, start: date, n: int, pauses: Sequence[Pause] = ()) -> date:
        """The day the ``n``-th counted working day after ``start`` falls on (``start`` itself for 0)."""
        if n < 0:
            raise ValueError(f"工作日数不能为负：{n}")
        self._check(start, pauses)
        d, left = start, n
        while left:
            d += ONE_DAY
            if self._counts(d, pauses):
                left -= 1
        return d

    def working_days_between(self, start: date, end: date, pauses: Sequence[Pause] = ()) -> int:
        """How many counted working days lie after ``start`` up to and including ``end``."""
        if end < start:
            raise ValueError(f"结束日 {end} 早于开始日 {start}")
        self._check(start, pauses)
        days = (start + ONE_DAY * i for i in range(1, (end - start).days + 1))
        return sum(1 for d in days if self._counts(d, pauses))

    def _check(self, start: date, pauses: Sequence[Pause]) -> None:
        self.year_source(start.year)
        for paused_from, resumed_on in pauses:
            if paused_from < start or resumed_on < paused_from:
                raise ValueError(f"暂停 {paused_from}–{resumed_on} 不在计时开始日 {start} 之后或首尾颠倒")

    def _counts(self, d: date, pauses: Sequence[Pause]) -> bool:
        return self.is_working_day(d) and not any(p < d <= r for p, r in pauses)
