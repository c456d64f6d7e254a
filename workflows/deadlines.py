"""A deadline clock (时限) inside a workflow: computed by an activity, watched by timers.

The clock keeps what its deadline counts from (a `DeadlineSpec`), so it can recompute the
deadline when the applicant's supplement time pauses it or when operators change the calendar,
and re-arm its timers: no timer fires on an old date, none is lost, none fires twice.
Warning (预警) fires when the deadline's own day begins; overdue (超期) when it passes. Each
fires at most once per clock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from temporalio import workflow

from workflows.common import quick_activity

with workflow.unsafe.imports_passed_through():
    from activities.calendar import CalendarActivities
    from workflows.calendar_messages import DeadlineResult, DeadlineSpec, Pause

_MIN_WAIT = timedelta(seconds=1)

Milestone = Callable[["DeadlineClock"], Awaitable[None]]


class DeadlineClock:
    def __init__(self, kind: str, on_overdue: Milestone, on_warning: Milestone | None = None):
        self.kind = kind
        self.spec: DeadlineSpec | None = None
        self.result: DeadlineResult | None = None
        self.paused_from: datetime | None = None
        self.warned = on_warning is None
        self.overdue = False
        self._on_overdue = on_overdue
        self._on_warning = on_warning
        self._version = 0
        self._lock = asyncio.Lock()

    @property
    def at(self) -> datetime | None:
        return self.result.at if self.result else None

    async def arm(self, start: datetime, working_days: int = 0, calendar_days: int = 0) -> DeadlineResult:
        """Start counting afresh (a new acceptance round, or acceptance itself)."""
        self.spec = DeadlineSpec(start=start, working_days=working_days, calendar_days=calendar_days)
        self.warned, self.overdue = self._on_warning is None, False
        return await self._compute()

    def arm_computed(self, spec: DeadlineSpec, result: DeadlineResult) -> None:
        """Start counting with a deadline the caller already computed for `spec`."""
        self.spec, self.result = spec, result
        self.warned, self.overdue = self._on_warning is None, False
        self._version += 1

    async def recompute(self) -> bool:
        """After a calendar change: True if the deadline moved."""
        if self.spec is None or self.paused_from is not None:
            return False
        before = self.result
        after = await self._compute()
        return before is None or before.at != after.at or before.provisional != after.provisional

    def pause(self, now: datetime) -> None:
        self.paused_from = now
        self._version += 1

    async def resume(self, now: datetime) -> DeadlineResult:
        assert self.spec is not None and self.paused_from is not None
        self.spec.pauses.append(Pause(start=self.paused_from, end=now))
        self.paused_from = None
        return await self._compute()

    async def _compute(self) -> DeadlineResult:
        async with self._lock:
            self.result = await quick_activity(CalendarActivities.deadline, self.spec)
            self._version += 1
            return self.result

    async def watch(self, done: Callable[[], bool]) -> None:
        """Until `done()`: fire warning and overdue at the current deadline's moments."""
        while not done():
            woken = self._done_or_changed(done)
            moment, fire = self._next_milestone()
            if moment is None:
                await workflow.wait_condition(woken)
                continue
            try:
                await workflow.wait_condition(woken, timeout=max(moment - workflow.now(), _MIN_WAIT))
            except TimeoutError:
                await fire()

    def _done_or_changed(self, done: Callable[[], bool]) -> Callable[[], bool]:
        version = self._version
        return lambda: done() or self._version != version

    def _next_milestone(self) -> tuple[datetime | None, Callable[[], Awaitable[None]]]:
        if self.result is None or self.paused_from is not None or self.overdue:
            return None, _nothing
        if not self.warned and workflow.now() < self.result.at:
            return self.result.warning_at, self._warn
        return self.result.at, self._overdue

    async def _warn(self) -> None:
        self.warned = True
        assert self._on_warning is not None
        await self._on_warning(self)

    async def _overdue(self) -> None:
        self.overdue = True
        await self._on_overdue(self)


async def _nothing() -> None:
    return None
