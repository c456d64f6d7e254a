"""Deadline timers under Temporal's time-skipping test server, with the real read model."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio
from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from api.workflow_calls import start_case
from core import search_attributes as sa
from core.calendar import BEIJING, STATUTORY, load_calendar
from core.models import CalendarOverride, NotificationRow, Rectification, ReviewTaskRow, TimelineEntry
from core.models import Escalation as EscalationRow
from core.temporal import case_workflow_id
from core.types import Actor, Role
from tests.conftest import SESSION, Api, start_time_skipping
from tests.helpers import case_input
from tests.replay_guard import replays_and_is_recorded
from worker import build_worker
from workflows.calendar_change import CalendarChangeWorkflow
from workflows.calendar_messages import CalendarChange
from workflows.case import CaseWorkflow
from workflows.case_messages import (
    SUPERVISOR_INBOX,
    AcceptanceDecision,
    AcceptanceRequest,
    DeliveryMethod,
    DeliveryRequest,
    SignatureRequest,
    SignDecision,
    SupplementNotice,
    SupplementRequest,
    TaskCompletion,
    TaskOutcome,
    WithdrawRequest,
)
from workflows.rectification import RectificationWorkflow
from workflows.rectification_messages import (
    DepartmentAnswer,
    ExplainRequest,
    RectificationInput,
    RectificationSource,
    ReviewRequest,
    VerifyRequest,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")
QUEUE = "gov-cases-time-skipping"
CLERK = Actor(username="clerk1", role=Role.CLERK)
APPLICANT = Actor(username="applicant1", role=Role.APPLICANT)


@pytest_asyncio.fixture(**SESSION)
async def skipping(engine: AsyncEngine) -> AsyncIterator[WorkflowEnvironment]:
    env = await start_time_skipping()
    async with build_worker(env.client, engine, QUEUE):
        yield env
    await env.shutdown()


async def _events(engine: AsyncEngine, case_id: str) -> list[str]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(TimelineEntry.event).where(TimelineEntry.case_id == case_id).order_by(TimelineEntry.seq)
        )
        return list(rows.scalars())


async def test_acceptance_deadline_passes_and_escalates(skipping, engine: AsyncEngine) -> None:
    inp = case_input()
    view = await start_case(skipping.client, QUEUE, inp)
    assert view is not None and view.acceptance_deadline is not None
    handle = skipping.client.get_workflow_handle_for(CaseWorkflow.run, case_workflow_id(inp.case_id))

    await skipping.sleep(view.acceptance_deadline - view.submitted_at - timedelta(minutes=1))
    assert not (await handle.query(CaseWorkflow.view)).overdue

    await skipping.sleep(timedelta(minutes=2))
    late = await handle.query(CaseWorkflow.view)
    assert late.overdue and late.status == "submitted"
    assert "acceptance_overdue" in await _events(engine, inp.case_id)
    async with engine.connect() as conn:
        recipients = (
            await conn.execute(
                select(NotificationRow.recipient).where(NotificationRow.case_id == inp.case_id)
            )
        ).scalars()
        assert SUPERVISOR_INBOX in list(recipients)
    described = await handle.describe()
    assert described.typed_search_attributes.get(sa.OVERDUE) is True

    # A late acceptance still goes through, and the escalation is recorded once only.
    await handle.execute_update(
        CaseWorkflow.decide_acceptance,
        AcceptanceRequest(actor=CLERK, decision=AcceptanceDecision.ACCEPT),
    )
    assert (await _events(engine, inp.case_id)).count("acceptance_overdue") == 1
    await handle.execute_update(CaseWorkflow.withdraw, WithdrawRequest(actor=APPLICANT))
    assert (await handle.result()).status == "withdrawn"
    await replays_and_is_recorded(await handle.fetch_history(), "acceptance_overdue_withdrawn")


async def _open_task_id(engine: AsyncEngine, case_id: str) -> str:
    async with engine.connect() as conn:
        for _ in range(200):
            query = select(ReviewTaskRow.task_id).where(ReviewTaskRow.case_id == case_id)
            task_id = (await conn.execute(query)).scalar()
            if task_id:
                return task_id
            await conn.rollback()
            await asyncio.sleep(0.05)
    raise AssertionError("no review task was created")


async def _awaiting_signature(skipping, engine: AsyncEngine, item_code: str):
    """Accept a case and pass its review (a complete_task update, as the inbox sends it)."""
    inp = case_input(item_code)
    await start_case(skipping.client, QUEUE, inp)
    handle = skipping.client.get_workflow_handle_for(CaseWorkflow.run, case_workflow_id(inp.case_id))
    accepted = await handle.execute_update(
        CaseWorkflow.decide_acceptance,
        AcceptanceRequest(actor=CLERK, decision=AcceptanceDecision.ACCEPT),
    )
    department = inp.item.lead_department
    staff = Actor(username=f"{department}-staff", role=Role.DEPARTMENT, department=department)
    completion = TaskCompletion(
        actor=staff, task_id=await _open_task_id(engine, inp.case_id), outcome=TaskOutcome.PASS
    )
    await handle.execute_update(CaseWorkflow.complete_task, completion)
    for _ in range(200):
        if (await handle.query(CaseWorkflow.view)).status == "awaiting_signature":
            return inp, handle, accepted
        await asyncio.sleep(0.05)
    raise AssertionError("review did not finish")


async def _skip_to(skipping, moment: datetime) -> None:
    await skipping.sleep(moment - await skipping.get_current_time())


async def test_warning_then_overdue_then_escalation(skipping, engine: AsyncEngine) -> None:
    inp, handle, accepted = await _awaiting_signature(skipping, engine, "market-002")
    deadline = accepted.completion_deadline
    warning_at = deadline.astimezone(BEIJING).replace(hour=0, minute=0, second=0)

    await _skip_to(skipping, warning_at - timedelta(minutes=1))
    assert "completion_warning" not in await _events(engine, inp.case_id)
    await _skip_to(skipping, warning_at + timedelta(minutes=1))
    view = await handle.query(CaseWorkflow.view)
    assert view.warning and not view.overdue
    await _skip_to(skipping, deadline + timedelta(minutes=1))
    view = await handle.query(CaseWorkflow.view)
    assert view.overdue
    events = await _events(engine, inp.case_id)
    assert events.count("completion_warning") == 1 and events.count("completion_overdue") == 1
    assert events.index("completion_warning") < events.index("completion_overdue")
    async with engine.connect() as conn:
        kinds = (
            await conn.execute(select(EscalationRow.kind).where(EscalationRow.case_id == inp.case_id))
        ).scalars()
        assert list(kinds) == ["completion"]
    described = await handle.describe()
    assert described.typed_search_attributes.get(sa.OVERDUE) is True
    await _finish(handle)
    await replays_and_is_recorded(await handle.fetch_history(), "completion_warned_overdue_denied")


async def _close_office(engine: AsyncEngine, day) -> None:
    """An operator's override: `day` becomes a day off (the test deletes it when done)."""
    async with engine.begin() as conn:
        row = dict(day=day, working=False, reason="测试：临时停止办公", updated_by="operator1")
        await conn.execute(insert(CalendarOverride).values(**row, updated_at=datetime.now(UTC)))


async def test_a_calendar_change_moves_a_running_deadline(skipping, engine: AsyncEngine) -> None:
    inp, handle, accepted = await _awaiting_signature(skipping, engine, "market-002")
    old = accepted.completion_deadline
    day_off = old.astimezone(BEIJING).date()  # the deadline's own day becomes a holiday
    await _close_office(engine, day_off)
    try:
        await handle.signal(CaseWorkflow.calendar_changed)
        for _ in range(200):
            view = await handle.query(CaseWorkflow.view)
            if view.completion_deadline != old:
                break
            await asyncio.sleep(0.05)
        new = view.completion_deadline
        assert new > old and new.astimezone(BEIJING).date() > day_off
        assert "deadline_recomputed" in await _events(engine, inp.case_id)

        await _skip_to(skipping, old + timedelta(minutes=1))  # no timer on the old date
        assert not (await handle.query(CaseWorkflow.view)).overdue
        await _skip_to(skipping, new + timedelta(minutes=1))
        assert (await handle.query(CaseWorkflow.view)).overdue
        assert (await _events(engine, inp.case_id)).count("completion_overdue") == 1
    finally:
        async with engine.begin() as conn:
            await conn.execute(delete(CalendarOverride).where(CalendarOverride.day == day_off))
    await _finish(handle)
    await replays_and_is_recorded(await handle.fetch_history(), "calendar_rearmed_denied")


async def _finish(handle) -> None:
    handler = Actor(username="market-handler", role=Role.HANDLER, department="market")
    chief = Actor(username="market-chief", role=Role.CHIEF, department="market")
    for signer in (handler, chief):
        await handle.execute_update(
            CaseWorkflow.sign, SignatureRequest(actor=signer, decision=SignDecision.DENY)
        )


async def test_completion_deadline_and_unrated_close(skipping, engine: AsyncEngine) -> None:
    inp, handle, accepted = await _awaiting_signature(skipping, engine, "market-001")
    assert accepted.completion_deadline is not None

    # One completion timer spans review and signing.
    await _skip_to(skipping, accepted.completion_deadline + timedelta(minutes=1))
    assert (await handle.query(CaseWorkflow.view)).overdue
    assert "completion_overdue" in await _events(engine, inp.case_id)

    handler = Actor(username="market-handler", role=Role.HANDLER, department="market")
    await handle.execute_update(
        CaseWorkflow.sign, SignatureRequest(actor=handler, decision=SignDecision.APPROVE)
    )
    await handle.execute_update(
        CaseWorkflow.deliver, DeliveryRequest(actor=CLERK, method=DeliveryMethod.ELECTRONIC)
    )

    await skipping.sleep(timedelta(days=7, minutes=1))  # the rating window
    final = await handle.result()
    assert final.status == "closed" and final.rating_level is None
    assert (await _events(engine, inp.case_id))[-1] == "closed_unrated"
    await replays_and_is_recorded(await handle.fetch_history(), "completion_overdue_closed_unrated")


async def test_supplement_time_does_not_count(skipping, engine: AsyncEngine) -> None:
    inp, handle, accepted = await _awaiting_signature(skipping, engine, "market-001")
    handler = Actor(username="market-handler", role=Role.HANDLER, department="market")
    await handle.execute_update(
        CaseWorkflow.request_supplement,
        SupplementNotice(actor=handler, missing_materials=["M03"], reason="场所证明过期"),
    )
    # The pause outlasts the old deadline: no overdue fires while the applicant supplies.
    await _skip_to(skipping, accepted.completion_deadline + timedelta(days=3))
    paused = await handle.query(CaseWorkflow.view)
    assert paused.status == "supplement_requested" and not paused.overdue

    resumed = await handle.execute_update(
        CaseWorkflow.supply_materials, SupplementRequest(actor=APPLICANT, materials=["M03"])
    )
    assert resumed.status == "awaiting_signature"
    (pause,) = resumed.pauses
    lost = STATUTORY.working_days_between(pause.start, pause.end)
    assert lost >= 1  # the pause covered at least the old deadline day
    expected = STATUTORY.add_working_days(resumed.accepted_at, 1 + lost).at
    assert resumed.completion_deadline == expected
    assert f"累计顺延 {lost} 个工作日" in (await _messages(engine, inp.case_id))[-1]

    await _skip_to(skipping, expected - timedelta(minutes=1))
    assert not (await handle.query(CaseWorkflow.view)).overdue
    await _skip_to(skipping, expected + timedelta(minutes=1))
    assert (await handle.query(CaseWorkflow.view)).overdue
    await handle.execute_update(
        CaseWorkflow.sign, SignatureRequest(actor=handler, decision=SignDecision.APPROVE)
    )


async def _messages(engine: AsyncEngine, case_id: str) -> list[str]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(TimelineEntry.message).where(TimelineEntry.case_id == case_id).order_by(TimelineEntry.seq)
        )
        return list(rows.scalars())


async def _open_rectification(skipping, engine: AsyncEngine):
    """A 12345 complaint's loop for `tax`, started now (test-server time), recorded with its deadline."""
    rid = f"RTS{uuid.uuid4().hex[:10].upper()}"
    opened = await skipping.get_current_time()
    handle = await skipping.client.start_workflow(
        RectificationWorkflow.run,
        RectificationInput(
            rectification_id=rid,
            source=RectificationSource.COMPLAINT,
            case_id=None,
            department="tax",
            channel="phone",
            rater=None,
            opened_at=opened,
        ),
        id=f"rectification-{rid}",
        task_queue=QUEUE,
    )
    for _ in range(200):
        row = await _loop_row(engine, rid)
        if row is not None and row.deadline is not None:
            return rid, opened, handle, row.deadline
        await asyncio.sleep(0.05)
    raise AssertionError(f"{rid} was not recorded with its deadline")


async def _loop_row(engine: AsyncEngine, rid: str):
    async with engine.connect() as conn:
        query = select(Rectification).where(Rectification.rectification_id == rid)
        return (await conn.execute(query)).one_or_none()


async def _close_explained(handle) -> None:
    staff = Actor(username="tax-staff", role=Role.DEPARTMENT, department="tax")
    verify = VerifyRequest(actor=staff, reasonable=False, finding="无法定依据")
    await handle.execute_update(RectificationWorkflow.answer, DepartmentAnswer(act=verify))
    explain = ExplainRequest(actor=staff, explanation="已说明")
    await handle.execute_update(RectificationWorkflow.answer, DepartmentAnswer(act=explain))
    supervisor = Actor(username="supervisor1", role=Role.SUPERVISOR)
    await handle.execute_update(RectificationWorkflow.review, ReviewRequest(actor=supervisor, close=True))


async def _until(check, what: str):
    """The read model is written by activities: poll until `check()` answers something truthy."""
    for _ in range(200):
        found = await check()
        if found:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(what)


async def test_rectification_overdue_escalates(skipping, engine: AsyncEngine, api: Api) -> None:
    rid, opened, handle, deadline = await _open_rectification(skipping, engine)
    expected = STATUTORY.add_calendar_days(opened, 7)
    assert deadline == expected.at
    assert (await handle.query(RectificationWorkflow.view)).deadline == expected.at

    await _skip_to(skipping, expected.warning_at + timedelta(minutes=1))
    assert (await handle.query(RectificationWorkflow.view)).warning
    await _skip_to(skipping, expected.at + timedelta(minutes=1))
    late = await handle.query(RectificationWorkflow.view)
    assert late.overdue and [e.event for e in late.events] == ["opened", "warning", "overdue"]
    async with engine.connect() as conn:
        row = (await conn.execute(select(EscalationRow).where(EscalationRow.case_id == rid))).one()
        assert row.kind == "rectification" and row.department == "tax"

    # Where supervisors look: the API reads the same read model the worker writes.
    async def escalated():
        params = {"department": "tax", "limit": 500}
        r = await api.get("/supervision/overdue", "supervisor1", params=params)
        assert r.status_code == 200, r.text
        return [e for e in r.json() if e["case_id"] == rid]

    (escalation,) = await _until(escalated, "no escalation in /supervision/overdue")
    assert escalation["kind"] == "rectification" and escalation["department"] == "tax"
    assert datetime.fromisoformat(escalation["deadline"]) == expected.at

    async def listed(who: str, overdue: bool):
        r = await api.get("/rectifications", who, params={"overdue": overdue})
        assert r.status_code == 200, r.text
        return [x for x in r.json() if x["rectification_id"] == rid]

    (loop,) = await _until(lambda: listed("supervisor1", True), "not in /rectifications?overdue=true")
    assert loop["overdue"] and loop["status"] == "verifying"
    assert [e["event"] for e in loop["events"]] == ["opened", "warning", "overdue"]
    assert await listed("supervisor1", False) == []
    assert len(await listed("tax-staff", True)) == 1  # the responsible department sees it too
    assert await listed("market-staff", True) == []

    await _close_explained(handle)
    final = await handle.result()
    assert final.status == "closed" and final.outcome == "explained" and final.overdue
    await replays_and_is_recorded(await handle.fetch_history(), "rectification_overdue_explained")


async def test_a_calendar_change_moves_a_rectification_deadline(skipping, engine: AsyncEngine) -> None:
    rid, opened, handle, old = await _open_rectification(skipping, engine)
    day_off = old.astimezone(BEIJING).date()  # the loop's last day becomes a holiday
    await _close_office(engine, day_off)
    try:
        expected = (await load_calendar(engine)).add_calendar_days(opened, 7)
        assert expected.at > old and expected.at.astimezone(BEIJING).date() > day_off
        # As the API starts it: the change pages through the read model and signals the loop.
        change = CalendarChange(change_id=uuid.uuid4().hex, first_day=day_off, last_day=day_off)
        rearm = await skipping.client.start_workflow(
            CalendarChangeWorkflow.run, change, id=f"calendar-change-{change.change_id}", task_queue=QUEUE
        )

        async def moved():
            # describe(), not result(): waiting on a result would let the test server skip time.
            done = (await rearm.describe()).status == WorkflowExecutionStatus.COMPLETED
            view = await handle.query(RectificationWorkflow.view)
            return done and view.deadline != old and view

        view = await _until(moved, "the calendar change did not move the rectification deadline")
        assert view.deadline == expected.at and not view.overdue
        assert [e.event for e in view.events] == ["opened", "deadline_recomputed"]

        async def recorded():
            return (await _loop_row(engine, rid)).deadline == expected.at

        await _until(recorded, "the read model kept the old deadline")

        await _skip_to(skipping, old + timedelta(minutes=1))  # no timer on the old date
        assert not (await handle.query(RectificationWorkflow.view)).overdue
        await _skip_to(skipping, expected.at + timedelta(minutes=1))
        late = await handle.query(RectificationWorkflow.view)
        assert late.overdue and late.warning
        assert [e.event for e in late.events].count("overdue") == 1
        async with engine.connect() as conn:
            row = (await conn.execute(select(EscalationRow).where(EscalationRow.case_id == rid))).one()
        assert row.deadline == expected.at
    finally:
        async with engine.begin() as conn:
            await conn.execute(delete(CalendarOverride).where(CalendarOverride.day == day_off))
    await _close_explained(handle)
    assert (await handle.result()).overdue
