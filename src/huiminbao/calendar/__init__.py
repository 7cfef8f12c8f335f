"""China's statutory working-day calendar and clocks counted in it (the 7-working-day claim limit)."""

from huiminbao.calendar.overrides import SHIPPED, OverrideFileError, default_calendar, load_calendar, load_overrides
from huiminbao.calendar.workdays import PACKAGE, CalendarError, WorkingCalendar, YearNotCovered, YearRule

__all__ = [
    "PACKAGE",
    "SHIPPED",
    "CalendarError",
    "OverrideFileError",
    "WorkingCalendar",
    "YearNotCovered",
    "YearRule",
    "default_calendar",
    "load_calendar",
    "load_overrides",
]
