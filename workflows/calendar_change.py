"""Calendar change (调休调整): re-arm the deadline timers of every open case the change touches,
then of every rectification loop whose reply deadline it touches.

Started by the API when an operator changes the calendar, so the re-arming survives API
restarts. Pages through the read model and signals the cases in bounded batches; continues
as new every few pages to keep its own history short. The rectification loops still running
(no reply yet, at most a week or so of bad ratings and complaints) follow in the last run.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.calendar import CalendarActivities
    from workflows.calendar_messages import CalendarChange

_PAGES_PER_RUN = 20
_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30))
# What to page through (by id, from the change's cursor), and how to signal each page.
_Affected = Callable[[CalendarActivities, CalendarChange], Awaitable[list[str]]]
_Signal = Callable[[CalendarActivities, list[str]], Awaitable[int]]
_CASES: tuple[_Affected, _Signal] = (
    CalendarActivities.affected_cases,
    CalendarActivities.signal_calendar_changed,
)
_RECTIFICATIONS: tuple[_Affected, _Signal] = (
    CalendarActivities.affected_rectifications,
    CalendarActivities.signal_rectifications,
)


@workflow.defn(name="CalendarChangeWorkflow")
class CalendarChangeWorkflow:
    @workflow.run
    async def run(self, change: CalendarChange) -> int:
        for _ in range(_PAGES_PER_RUN):
            if not await _signal_next_page(change, _CASES):
                # Their own cursor (over their ids) and count: the cases' count is `change.signalled`.
                rectifications = change.model_copy(update={"cursor": "", "signalled": 0})
                while await _signal_next_page(rectifications, _RECTIFICATIONS):
                    pass
                return change.signalled + rectifications.signalled
        workflow.continue_as_new(change)


async def _signal_next_page(change: CalendarChange, kind: tuple[_Affected, _Signal]) -> bool:
    """Signal the next page of the workflows of this kind that the change touches, and move the
    cursor past them. False when there are none left."""
    affected, signal = kind
    page = await workflow.execute_activity_method(
        affected, change, start_to_close_timeout=timedelta(seconds=60), retry_policy=_RETRY
    )
    if not page:
        return False
    change.signalled += await workflow.execute_activity_method(
        signal, page, start_to_close_timeout=timedelta(minutes=5), retry_policy=_RETRY
    )
    change.cursor = page[-1]
    return True
