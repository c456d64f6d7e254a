"""Calendar change (调休调整): re-arm the deadline timers of every open case the change touches.

Started by the API when an operator changes the calendar, so the re-arming survives API
restarts. Pages through the read model and signals the cases in bounded batches; continues
as new every few pages to keep its own history short.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.calendar import CalendarActivities
    from core.types import CalendarChange

_PAGES_PER_RUN = 20
_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30))


@workflow.defn(name="CalendarChangeWorkflow")
class CalendarChangeWorkflow:
    @workflow.run
    async def run(self, change: CalendarChange) -> int:
        for _ in range(_PAGES_PER_RUN):
            page: list[str] = await workflow.execute_activity_method(
                CalendarActivities.affected_cases,
                change,
                start_to_close_timeout=timedelta(seconds=60),
                retry_policy=_RETRY,
            )
            if not page:
                return change.signalled
            change.signalled += await workflow.execute_activity_method(
                CalendarActivities.signal_calendar_changed,
                page,
                start_to_close_timeout=timedelta(minutes=5),
                retry_policy=_RETRY,
            )
            change.cursor = page[-1]
        workflow.continue_as_new(change)
