"""Deadlines (computed here so workflow code never touches the calendar) and the re-arming of
running cases and rectification loops when operators change the calendar."""

from __future__ import annotations

import asyncio
from datetime import datetime, time

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col
from temporalio import activity
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from core.calendar import BEIJING, load_calendar
from core.models import Case, Rectification
from core.temporal import case_workflow_id
from workflows.calendar_messages import CalendarChange, DeadlineResult, DeadlineSpec
from workflows.case_messages import CaseStatus
from workflows.rectification_messages import RectificationStatus

# Cases whose clocks still run: these hold armed deadline timers.
TIMED_STATUSES = [
    CaseStatus.SUBMITTED,
    CaseStatus.SUPPLEMENT_REQUESTED,
    CaseStatus.UNDER_REVIEW,
    CaseStatus.AWAITING_SIGNATURE,
]
# Rectification loops whose reply deadline still runs (no reply yet).
UNREPLIED = [RectificationStatus.VERIFYING, RectificationStatus.RECTIFYING, RectificationStatus.EXPLAINING]
REARM_PAGE = 500
SIGNAL_CONCURRENCY = 32


class CalendarActivities:
    def __init__(self, engine: AsyncEngine, client: Client) -> None:
        self._engine = engine
        self._client = client

    @activity.defn
    async def deadline(self, spec: DeadlineSpec) -> DeadlineResult:
        return (await load_calendar(self._engine)).due(spec)

    @activity.defn
    async def affected_cases(self, change: CalendarChange) -> list[str]:
        """One page (by case id) of open cases whose running deadline spans the changed dates."""
        first = datetime.combine(change.first_day, time(0), tzinfo=BEIJING)
        last = datetime.combine(change.last_day, time.max, tzinfo=BEIJING)
        spans = or_(
            and_(col(Case.acceptance_deadline) >= first, col(Case.submitted_at) <= last),
            and_(col(Case.completion_deadline) >= first, col(Case.accepted_at) <= last),
        )
        query = (
            select(col(Case.case_id))
            .where(col(Case.status).in_([s.value for s in TIMED_STATUSES]), spans)
            .where(col(Case.case_id) > change.cursor)
            .order_by(col(Case.case_id))
            .limit(REARM_PAGE)
        )
        async with self._engine.connect() as conn:
            return list((await conn.execute(query)).scalars())

    @activity.defn
    async def signal_calendar_changed(self, case_ids: list[str]) -> int:
        """Signal each case to recompute its deadlines; bounded concurrency, idempotent."""
        return await self._signal([case_workflow_id(c) for c in case_ids])

    @activity.defn
    async def affected_rectifications(self, change: CalendarChange) -> list[str]:
        """One page (by rectification id, `change.cursor`) of loops not yet replied to nor
        overdue whose reply deadline spans the changed dates."""
        first = datetime.combine(change.first_day, time(0), tzinfo=BEIJING)
        last = datetime.combine(change.last_day, time.max, tzinfo=BEIJING)
        loop = Rectification
        query = (
            select(col(loop.rectification_id))
            .where(
                col(loop.status).in_([s.value for s in UNREPLIED]),
                col(loop.on_time).is_(None),
                col(loop.overdue).is_(False),
            )
            .where(col(loop.deadline) >= first, col(loop.opened_at) <= last)
            .where(col(loop.rectification_id) > change.cursor)
            .order_by(col(loop.rectification_id))
            .limit(REARM_PAGE)
        )
        async with self._engine.connect() as conn:
            return list((await conn.execute(query)).scalars())

    @activity.defn
    async def signal_rectifications(self, rectification_ids: list[str]) -> int:
        """Signal each rectification loop to recompute its reply deadline; idempotent."""
        return await self._signal([f"rectification-{r}" for r in rectification_ids])

    async def _signal(self, workflow_ids: list[str]) -> int:
        gate = asyncio.Semaphore(SIGNAL_CONCURRENCY)

        async def one(workflow_id: str) -> int:
            async with gate:
                handle = self._client.get_workflow_handle(workflow_id)
                try:
                    await handle.signal("calendar_changed")
                    return 1
                except RPCError as exc:  # a workflow that has just ended needs no re-arming
                    if exc.status != RPCStatusCode.NOT_FOUND:
                        raise
                    return 0

        return sum(await asyncio.gather(*(one(w) for w in workflow_ids)))
