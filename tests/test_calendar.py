"""Working-day arithmetic over China's 2026 calendar (holidays and make-up working days)."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from core.calendar import (
    BEIJING,
    STATUTORY,
    Override,
    WorkingCalendar,
    add_calendar_days,
    add_working_days,
    is_working_day,
)


def at(day: str, hour: int = 10) -> datetime:
    return datetime.fromisoformat(f"{day}T{hour:02d}:00:00").replace(tzinfo=BEIJING)


@pytest.mark.parametrize(
    ("start", "days", "ends"),
    [
        ("2026-11-25", 1, "2026-11-26"),  # Wednesday → Thursday
        ("2026-11-27", 1, "2026-11-30"),  # Friday → Monday over a weekend
        ("2026-09-30", 1, "2026-10-08"),  # National Day holiday 1–7 October (DOMAIN.md)
        ("2026-09-19", 1, "2026-09-20"),  # Sunday 20 September is a make-up working day
        ("2026-10-09", 1, "2026-10-10"),  # Saturday 10 October is a make-up working day
        ("2026-02-13", 1, "2026-02-14"),  # Saturday 14 February, make-up day before Spring Festival
        ("2026-02-14", 1, "2026-02-24"),  # Spring Festival 15–23 February
        ("2026-12-31", 1, "2027-01-04"),  # year boundary: New Year's Day, then a weekend
        ("2026-11-25", 10, "2026-12-09"),  # two plain weeks
        ("2026-04-30", 3, "2026-05-08"),  # Labour Day holiday 1–5 May, 9 May make-up day
    ],
)
def test_working_day_periods(start: str, days: int, ends: str) -> None:
    deadline = add_working_days(at(start), days)
    assert deadline == datetime.fromisoformat(f"{ends}T23:59:59+08:00")


def test_start_day_is_counted_in_beijing_time() -> None:
    # 23:30 UTC on the 24th is already the 25th in Beijing.
    utc_evening = datetime.fromisoformat("2026-11-24T23:30:00+00:00")
    assert add_working_days(utc_evening, 1).date() == date(2026, 11, 26)


@pytest.mark.parametrize(
    ("start", "days", "ends"),
    [
        ("2026-11-25", 7, "2026-12-02"),  # lands on a Wednesday
        ("2026-11-21", 7, "2026-11-30"),  # lands on Saturday 28th → Monday 30th
        ("2026-09-26", 7, "2026-10-08"),  # lands on 3 October, a holiday → 8 October
    ],
)
def test_calendar_day_periods_roll_to_a_working_day(start: str, days: int, ends: str) -> None:
    assert add_calendar_days(at(start), days).date() == date.fromisoformat(ends)


@pytest.mark.parametrize(
    ("day", "working"),
    [
        ("2026-10-01", False),
        ("2026-10-10", True),
        ("2026-09-20", True),
        ("2026-06-19", False),  # Dragon Boat Festival
        ("2026-11-28", False),  # an ordinary Saturday
        ("2026-11-26", True),
    ],
)
def test_is_working_day(day: str, working: bool) -> None:
    assert is_working_day(date.fromisoformat(day)) is working


def test_zero_days_is_refused() -> None:
    with pytest.raises(ValueError):
        add_working_days(at("2026-11-25"), 0)


# ---- operator overrides, provisional years, pauses ----------------------------------------


def test_an_operator_override_moves_a_deadline_both_ways() -> None:
    cal = WorkingCalendar(
        overrides={
            date(2026, 11, 26): Override(working=False, reason="临时调整：停止办公"),
            date(2026, 11, 28): Override(working=True, reason="临时调整：周六上班"),
        }
    )
    due = cal.add_working_days(at("2026-11-25"), 1)  # Thursday off, Friday counts
    assert due.at.date() == date(2026, 11, 27)
    assert cal.add_working_days(at("2026-11-27"), 1).at.date() == date(2026, 11, 28)
    assert cal.day(date(2026, 11, 26)).reason == "临时调整：停止办公"


def test_reasons_say_why_a_day_is_off_or_on() -> None:
    reasons = {
        d.day.isoformat(): (d.working, d.reason) for d in STATUTORY.days(date(2026, 9, 19), date(2026, 10, 1))
    }
    assert reasons["2026-09-19"] == (False, "周末")
    assert reasons["2026-09-20"] == (True, "调休上班")
    assert reasons["2026-09-21"] == (True, "工作日")
    assert reasons["2026-10-01"] == (False, "国庆节")


def test_a_year_without_an_official_schedule_is_provisional() -> None:
    assert not STATUTORY.add_working_days(at("2026-11-25"), 10).provisional
    assert STATUTORY.add_working_days(at("2026-12-28"), 5).provisional  # reaches into 2027
    uploaded = WorkingCalendar(official_years=frozenset({2027}))
    assert not uploaded.add_working_days(at("2026-12-28"), 5).provisional


def test_warning_begins_on_the_deadline_day() -> None:
    due = STATUTORY.add_working_days(at("2026-09-30"), 1)
    assert due.warning_at == datetime.fromisoformat("2026-10-08T00:00:00+08:00")


@pytest.mark.parametrize(
    ("paused_from", "resumed", "working_days"),
    [
        ("2026-11-25", "2026-11-25", 0),  # same day: nothing lost
        ("2026-11-25", "2026-11-30", 3),  # Thu, Fri, Mon
        ("2026-09-30", "2026-10-09", 2),  # over National Day: 8 and 9 October
    ],
)
def test_paused_working_days(paused_from: str, resumed: str, working_days: int) -> None:
    assert STATUTORY.working_days_between(at(paused_from), at(resumed, 15)) == working_days
