"""The working-day calendar (工作日历): days, deadlines, and operators' changes to it.

A change is committed first, then a `CalendarChangeWorkflow` re-arms every open case whose
deadlines span the changed dates. Changes are idempotent, so an operator who gets a 503 after
the save simply repeats the request.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import delete, extract
from sqlalchemy.dialects.postgresql import insert
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client
from temporalio.service import RPCError

from api.deps import Cfg, Db, Operator, Svc, Temporal
from api.errors import ApiError
from api.schemas import (
    CalendarChangeOut,
    CalendarDayIn,
    CalendarDayOut,
    CalendarYearIn,
    DeadlineOut,
    IsoDate,
    IsoDateTime,
)
from core.calendar import BEIJING, load_calendar
from core.config import Settings
from core.models import CalendarOverride, CalendarSchedule
from workflows.calendar_change import CalendarChangeWorkflow
from workflows.calendar_messages import CalendarChange

router = APIRouter(prefix="/calendar", tags=["calendar"])

MAX_SPAN = 366


# The calendar knows the years a case can live in; dates far outside would overflow deadlines.
EARLIEST, LATEST = date(2000, 1, 1), date(2099, 12, 31)


def _in_range(*days: date) -> None:
    if any(not EARLIEST <= d <= LATEST for d in days):
        raise ApiError(422, "date_out_of_range", f"日期须在{EARLIEST.year}年至{LATEST.year}年之间")


@router.get("/days", response_model=list[CalendarDayOut])
async def days(
    first: Annotated[IsoDate, Query(alias="from")],
    last: Annotated[IsoDate, Query(alias="to")],
    svc: Svc,
) -> list[CalendarDayOut]:
    _in_range(first, last)
    if not 0 <= (last - first).days < MAX_SPAN:
        raise ApiError(422, "invalid_range", f"日期范围须从早到晚且不超过{MAX_SPAN}天")
    calendar = await load_calendar(svc.engine)
    return [CalendarDayOut(**vars(d)) for d in calendar.days(first, last)]


@router.get("/deadline", response_model=DeadlineOut)
async def deadline(
    start: IsoDateTime,
    svc: Svc,
    working_days: Annotated[int | None, Query(ge=1, le=3650)] = None,
    calendar_days: Annotated[int | None, Query(ge=1, le=3650)] = None,
) -> DeadlineOut:
    if (working_days is None) == (calendar_days is None):
        raise ApiError(422, "one_period_required", "请在 working_days 与 calendar_days 中二选一")
    if start.tzinfo is None:
        start = start.replace(tzinfo=BEIJING)  # a clerk's local time
    _in_range(start.date())
    calendar = await load_calendar(svc.engine)
    if working_days is not None:
        due = calendar.add_working_days(start, working_days)
    else:
        due = calendar.add_calendar_days(start, calendar_days)
    return DeadlineOut(deadline=due.at, provisional=due.provisional)


@router.put("/days/{day}", response_model=CalendarChangeOut)
async def set_day(
    day: IsoDate, body: CalendarDayIn, db: Db, principal: Operator, client: Temporal, cfg: Cfg
) -> CalendarChangeOut:
    _in_range(day)
    await db.exec(_upsert(day, body.working, body.reason, principal.username))
    return await _commit_and_rearm(db, client, cfg, day, day)


@router.delete("/days/{day}", response_model=CalendarChangeOut)
async def clear_day(
    day: IsoDate, db: Db, principal: Operator, client: Temporal, cfg: Cfg
) -> CalendarChangeOut:
    _in_range(day)
    await db.exec(delete(CalendarOverride).where(CalendarOverride.day == day))
    return await _commit_and_rearm(db, client, cfg, day, day)


@router.put("/years/{year}", response_model=CalendarChangeOut)
async def upload_year(
    year: int, body: CalendarYearIn, db: Db, principal: Operator, client: Temporal, cfg: Cfg
) -> CalendarChangeOut:
    """The State Council's schedule for a year: it replaces that year's overrides at once."""
    if not EARLIEST.year <= year <= LATEST.year:
        raise ApiError(422, "date_out_of_range", f"年份须在{EARLIEST.year}年至{LATEST.year}年之间")
    strays = sorted({d.day.isoformat() for d in body.days if d.day.year != year})
    if strays:
        raise ApiError(422, "date_outside_year", f"以下日期不属于{year}年：{'、'.join(strays)}", strays)
    await db.exec(delete(CalendarOverride).where(extract("year", CalendarOverride.day) == year))
    for d in body.days:
        await db.exec(_upsert(d.day, d.working, d.reason, principal.username))
    schedule = insert(CalendarSchedule).values(
        year=year, notice=body.notice, uploaded_by=principal.username, uploaded_at=datetime.now(UTC)
    )
    update = {"notice": body.notice, "uploaded_by": principal.username, "uploaded_at": datetime.now(UTC)}
    await db.exec(schedule.on_conflict_do_update(index_elements=["year"], set_=update))
    return await _commit_and_rearm(db, client, cfg, date(year, 1, 1), date(year, 12, 31))


def _upsert(day: date, working: bool, reason: str, username: str):
    values = {"working": working, "reason": reason, "updated_by": username, "updated_at": datetime.now(UTC)}
    stmt = insert(CalendarOverride).values(day=day, **values)
    return stmt.on_conflict_do_update(index_elements=["day"], set_=values)


async def _commit_and_rearm(
    db: AsyncSession, client: Client, cfg: Settings, first: date, last: date
) -> CalendarChangeOut:
    """Commit the change, then start re-arming the open cases whose deadlines span it (the
    workflow reads the calendar as committed)."""
    await db.commit()
    change = CalendarChange(change_id=uuid.uuid4().hex, first_day=first, last_day=last)
    workflow_id = f"calendar-change-{change.change_id}"
    try:
        await client.start_workflow(
            CalendarChangeWorkflow.run,
            change,
            id=workflow_id,
            task_queue=cfg.task_queue,
            static_summary=f"工作日历调整 {first}～{last}：重新计算在办件时限",
            execution_timeout=timedelta(hours=6),
        )
    except RPCError as exc:
        raise ApiError(
            503, "rearm_not_started", "日历已保存，但在办件时限重算未能启动，请重试同一操作", exc.message
        ) from exc
    return CalendarChangeOut(first_day=first, last_day=last, rearm_workflow_id=workflow_id)
