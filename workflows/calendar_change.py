"""Calendar change (调休调整): re-arm the deadline timers of every open case the change touches,
then of every rectification loop whose reply deadline it touches.

Started by the API when an operator changes the calendar, so the re-arming survives API
restarts. Pages through the read model and signals the cases in bounded batches; continues
as new every few pages to keep its own history short. The rectification loops still running
(no reply yet, at most a week or so of bad ratings and complaints) follow in the last run.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.calendar import CalendarActivities
    from workflows.calendar_messages import CalendarChange

_PAGES_PER_RUN = 20
# Changes started before it end once the cases are signalled.
RECTIFICATIONS = "calendar-rectifications-v1"
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
                if workflow.patched(RECTIFICATIONS):
                    change.signalled += await self._rectifications(change)
                return change.signalled
            change.signalled += await workflow.execute_activity_method(
                CalendarActivities.signal_calendar_changed,
                page,
                start_to_close_timeout=timedelta(minutes=5),
                retry_policy=_RETRY,
            )
            change.cursor = page[-1]
        workflow.continue_as_new(change)

    async def _rectifications(self, change: CalendarChange) -> int:
        """Signal the loops page by page (the change's cursor then runs over rectification ids)."""
        pages = change.model_copy(update={"cursor": ""})
        signalled = 0
        while True:
            page: list[str] = await workflow.execute_activity_method(
                CalendarActivities.affected_rectifications,
                pages,
                start_to_close_timeout=timedelta(seconds=60),
                retry_policy=_RETRY,
            )
            if not page:
                return signalled
            signalled += await workflow.execute_activity_method(
                CalendarActivities.signal_rectifications,
                page,
                start_to_close_timeout=timedelta(minutes=5),
                retry_policy=_RETRY,
            )
            pages.cursor = page[-1]
