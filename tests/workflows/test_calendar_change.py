"""The calendar change (调休调整) in the time-skipping test server with the activities faked: it
pages through the open cases, then the rectification loops, signalling each page, and continues
as new every 20 pages."""

from __future__ import annotations

from datetime import date

import pytest
from temporalio.client import WorkflowExecutionStatus

from tests.workflows.fakes import Harness, unique
from workflows.calendar_change import CalendarChangeWorkflow
from workflows.calendar_messages import CalendarChange

pytestmark = pytest.mark.asyncio(loop_scope="session")


def change() -> CalendarChange:
    return CalendarChange(change_id=unique("CC"), first_day=date(2026, 10, 9), last_day=date(2026, 10, 9))


async def test_cases_page_by_page_then_loops_continuing_as_new_after_20_pages(harness: Harness) -> None:
    h = harness
    cases = [f"C{i:03d}" for i in range(25)]
    h.fakes.affected = {"cases": cases, "rectifications": ["R1", "R2", "R3"]}
    c = change()
    handle = await h.start(CalendarChangeWorkflow.run, c, f"calendar-change-{c.change_id}")
    assert await handle.result() == 28

    assert h.fakes.signalled == [("cases", [i]) for i in cases] + [
        ("rectifications", ["R1"]),
        ("rectifications", ["R2"]),
        ("rectifications", ["R3"]),
    ]
    first = h.client.get_workflow_handle(handle.id, run_id=handle.first_execution_run_id)
    assert (await first.describe()).status == WorkflowExecutionStatus.CONTINUED_AS_NEW
    history = await first.fetch_history()
    (carried,) = [
        e.workflow_execution_continued_as_new_event_attributes
        for e in history.events
        if e.HasField("workflow_execution_continued_as_new_event_attributes")
    ]
    assert carried.workflow_type.name == "CalendarChangeWorkflow"
    assert sum(e.HasField("activity_task_completed_event_attributes") for e in history.events) == 40


async def test_pages_hold_several_and_no_cases_go_straight_to_the_loops(harness: Harness) -> None:
    h = harness
    h.fakes.affected = {"cases": [], "rectifications": ["R1", "R2", "R3"]}
    h.fakes.page_size = 2
    c = change()
    handle = await h.start(CalendarChangeWorkflow.run, c, f"calendar-change-{c.change_id}")
    assert await handle.result() == 3
    assert h.fakes.signalled == [("rectifications", ["R1", "R2"]), ("rectifications", ["R3"])]


async def test_nothing_affected_signals_nothing(harness: Harness) -> None:
    h = harness
    c = change()
    handle = await h.start(CalendarChangeWorkflow.run, c, f"calendar-change-{c.change_id}")
    assert await handle.result() == 0
    assert h.fakes.signalled == []
