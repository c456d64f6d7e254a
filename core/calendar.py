"""Working-day calendar (工作日): China's public holidays off, make-up working days (调休) on.

Only activities and the API use this module; workflow code receives absolute deadlines.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

BEIJING = ZoneInfo("Asia/Shanghai")
END_OF_DAY = time(23, 59, 59)


@lru_cache(maxsize=64)
def _china(year: int) -> holidays.HolidayBase:
    return holidays.China(years=[year])


def is_working_day(day: date) -> bool:
    return _china(day.year).is_working_day(day)


def end_of_day(day: date) -> datetime:
    return datetime.combine(day, END_OF_DAY, tzinfo=BEIJING)


def add_working_days(start: datetime, working_days: int) -> datetime:
    """End of the Nth working day after the start's own (Beijing) day, which never counts."""
    if working_days < 1:
        raise ValueError("working_days must be at least 1")
    day = start.astimezone(BEIJING).date()
    remaining = working_days
    while remaining:
        day += timedelta(days=1)
        if is_working_day(day):
            remaining -= 1
    return end_of_day(day)


def add_calendar_days(start: datetime, days: int) -> datetime:
    """End of the Nth day after the start; a non-working last day rolls to the next working day."""
    day = start.astimezone(BEIJING).date() + timedelta(days=days)
    while not is_working_day(day):
        day += timedelta(days=1)
    return end_of_day(day)
