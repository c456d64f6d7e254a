"""Working-day calendar (工作日): China's public holidays off, make-up working days (调休) on,
operator overrides on top.

Only activities and the API use this module; workflow code receives absolute deadlines.
A period of N working days does not count its start day and ends at the end (23:59:59,
Asia/Shanghai) of the Nth working day after it. A year without an official State Council
schedule is provisional, and so is every deadline that reaches into it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays
from holidays.countries.china import ChinaStaticHolidays

from workflows.calendar_messages import DeadlineResult, DeadlineSpec

BEIJING = ZoneInfo("Asia/Shanghai")
END_OF_DAY = time(23, 59, 59)
# The library carries each year's official schedule (调休 included) up to this year.
LIBRARY_SCHEDULE_UNTIL = max(ChinaStaticHolidays.special_public_holidays)


@lru_cache(maxsize=64)
def _china(year: int) -> holidays.HolidayBase:
    return holidays.China(years=[year], language="zh_CN")


@dataclass(frozen=True)
class Override:
    """An operator's ruling on one date (e.g. from the State Council's annual notice)."""

    working: bool
    reason: str


@dataclass(frozen=True)
class DayInfo:
    day: date
    working: bool
    reason: str
    provisional: bool


@dataclass(frozen=True)
class Deadline:
    at: datetime
    provisional: bool

    @property
    def warning_at(self) -> datetime:
        """预警: the start of the last working day, i.e. of the deadline's own day."""
        return datetime.combine(self.at.date(), time(0), tzinfo=BEIJING)


@dataclass(frozen=True)
class WorkingCalendar:
    overrides: Mapping[date, Override] = field(default_factory=dict)
    official_years: frozenset[int] = frozenset()

    def is_official(self, year: int) -> bool:
        return year <= LIBRARY_SCHEDULE_UNTIL or year in self.official_years

    def day(self, d: date) -> DayInfo:
        provisional = not self.is_official(d.year)
        if d in self.overrides:
            o = self.overrides[d]
            return DayInfo(d, o.working, o.reason, provisional)
        china = _china(d.year)
        if d in china:
            return DayInfo(d, False, china[d], provisional)
        if d in china.weekend_workdays:
            return DayInfo(d, True, "调休上班", provisional)
        if d.weekday() >= 5:
            return DayInfo(d, False, "周末", provisional)
        return DayInfo(d, True, "工作日", provisional)

    def is_working_day(self, d: date) -> bool:
        return self.day(d).working

    def days(self, first: date, last: date) -> list[DayInfo]:
        return [self.day(first + timedelta(n)) for n in range((last - first).days + 1)]

    def add_working_days(self, start: datetime, working_days: int) -> Deadline:
        if working_days < 1:
            raise ValueError("working_days must be at least 1")
        day = _beijing_day(start)
        remaining, provisional = working_days, False
        while remaining:
            day += timedelta(days=1)
            info = self.day(day)
            provisional |= info.provisional
            remaining -= info.working
        return Deadline(end_of_day(day), provisional)

    def add_calendar_days(self, start: datetime, days: int) -> Deadline:
        """End of the Nth day after the start; a non-working last day rolls to the next working day."""
        day = _beijing_day(start) + timedelta(days=days)
        provisional = self.day(day).provisional
        while not self.is_working_day(day):
            day += timedelta(days=1)
            provisional |= self.day(day).provisional
        return Deadline(end_of_day(day), provisional)

    def due(self, spec: DeadlineSpec) -> DeadlineResult:
        """A deadline clock's current deadline: its period from its start, plus the working days
        its pauses (supplement time) covered."""
        if spec.calendar_days:
            due = self.add_calendar_days(spec.start, spec.calendar_days)
            return DeadlineResult(at=due.at, warning_at=due.warning_at, provisional=due.provisional)
        paused = sum(self.working_days_between(p.start, p.end) for p in spec.pauses)
        due = self.add_working_days(spec.start, spec.working_days + paused)
        return DeadlineResult(
            at=due.at, warning_at=due.warning_at, provisional=due.provisional, paused_working_days=paused
        )

    def working_days_between(self, start: datetime, end: datetime) -> int:
        """Working days that begin after `start`'s day and no later than `end`'s day."""
        first, last = _beijing_day(start), _beijing_day(end)
        return sum(self.is_working_day(first + timedelta(n)) for n in range(1, (last - first).days + 1))


def _beijing_day(moment: datetime) -> date:
    return moment.astimezone(BEIJING).date()


def end_of_day(day: date) -> datetime:
    return datetime.combine(day, END_OF_DAY, tzinfo=BEIJING)


# The statutory calendar alone (no operator overrides); the API and activities load overrides.
STATUTORY = WorkingCalendar()


def is_working_day(day: date) -> bool:
    return STATUTORY.is_working_day(day)


def add_working_days(start: datetime, working_days: int) -> datetime:
    return STATUTORY.add_working_days(start, working_days).at


def add_calendar_days(start: datetime, days: int) -> datetime:
    return STATUTORY.add_calendar_days(start, days).at


# Overrides and uploaded years in one round trip (rows of the second part carry only a year).
_CALENDAR_ROWS = """
SELECT day, working, reason, NULL::integer AS year FROM calendar_overrides
UNION ALL
SELECT NULL, NULL, NULL, year FROM calendar_schedules
"""


async def count_due(engine, spec: DeadlineSpec) -> DeadlineResult:
    """A deadline counted on the stored calendar as it is now: the API's, for a workflow to take."""
    return (await load_calendar(engine)).due(spec)


async def load_calendar(engine) -> WorkingCalendar:
    """The statutory calendar with the operators' overrides and uploaded schedules."""
    from sqlalchemy import text

    async with engine.connect() as conn:
        autocommit = await conn.execution_options(isolation_level="AUTOCOMMIT")  # no BEGIN/ROLLBACK
        rows = (await autocommit.execute(text(_CALENDAR_ROWS))).all()
    overrides = {r.day: Override(r.working, r.reason) for r in rows if r.year is None}
    years = frozenset(r.year for r in rows if r.year is not None)
    return WorkingCalendar(overrides=overrides, official_years=years)
