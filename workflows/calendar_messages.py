"""Messages of deadlines and the working-day calendar: what a deadline counts from, its result,
and a calendar change that re-arms open cases. Plain pydantic models, free of side effects.
"""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field

from core.types import Instant


class Pause(BaseModel):
    """Time the clock stood still while the applicant supplied materials (补正不计时)."""

    start: Instant
    end: Instant


class DeadlineSpec(BaseModel):
    """What a deadline counts from, so it can be recomputed when the calendar changes."""

    start: Instant
    working_days: int = 0
    # A period of calendar days instead (e.g. 7 days to rectify a bad rating).
    calendar_days: int = 0
    pauses: list[Pause] = Field(default_factory=list)


class DeadlineResult(BaseModel):
    at: Instant
    warning_at: Instant
    provisional: bool = False
    paused_working_days: int = 0


class CalendarChange(BaseModel):
    """Dates whose working status changed; open cases whose deadlines span them re-arm."""

    change_id: str
    first_day: date
    last_day: date
    cursor: str = ""
    signalled: int = 0
