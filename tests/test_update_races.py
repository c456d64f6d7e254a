"""Updates that reach a case together, in one workflow task, as they do after a worker or a
database outage (found by `python -m bench.chaos`): the case must still run its whole course."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter

import pytest
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle

from api.workflow_calls import start_case
from core.models import ReviewTaskRow
from core.temporal import case_workflow_id
from core.types import Actor, Role
from tests.helpers import accept, case_input, submit, wait_for_tasks
from tests.replay_guard import replays_and_is_recorded
from tests.test_faults import in_process_api
from worker import build_worker
from workflows.case import CaseWorkflow
from workflows.case_messages import (
    AcceptanceDecision,
    AcceptanceRequest,
    DeliveryMethod,
    DeliveryRequest,
    RatingRequest,
    SignatureRequest,
    SignDecision,
    TaskCompletion,
    TaskOutcome,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")
CLERK = Actor(username="clerk1", role=Role.CLERK)
APPLICANT = Actor(username="applicant1", role=Role.APPLICANT)
STAFF = Actor(username="market-staff", role=Role.DEPARTMENT, department="market")
HANDLER = Actor(username="market-handler", role=Role.HANDLER, department="market")


async def _in_one_task(handle: WorkflowHandle, first: tuple, second: tuple) -> asyncio.Future:
    """With no worker running, send `first`, then `second` once `first` is admitted: the next
    workflow task carries both, in that order. Returns the two calls' answers to come."""
    # The server cannot tell a client when an update is admitted (only accepted, which needs a
    # worker): a second is ample for a local call to arrive, even on a busy CI machine.
    sending = [asyncio.create_task(handle.execute_update(*first))]
    await asyncio.sleep(1.0)
    sending.append(asyncio.create_task(handle.execute_update(*second)))
    await asyncio.sleep(1.0)
    return asyncio.gather(*sending)


def _met_in_one_task(events: list) -> None:
    """Both updates were accepted by one workflow task."""
    accepted_by_task: Counter[int] = Counter()
    task = 0
    for e in events:
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            task = e.event_id
        elif e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
            accepted_by_task[task] += 1
    assert max(accepted_by_task.values()) == 2, "both updates in one task"


async def _start(client: Client, engine: AsyncEngine, queue: str) -> WorkflowHandle:
    inp = case_input(prefix="RACE")
    async with build_worker(client, engine, queue):
        await start_case(client, queue, inp)
    return client.get_workflow_handle_for(CaseWorkflow.run, case_workflow_id(inp.case_id))


def _task_result(handle: WorkflowHandle) -> TaskCompletion:
    case_id = handle.id.removeprefix("case-")
    return TaskCompletion(actor=STAFF, task_id=f"{case_id}-T1", outcome=TaskOutcome.PASS, opinion="同意")


SIGN = (CaseWorkflow.sign, SignatureRequest(actor=HANDLER, decision=SignDecision.APPROVE, opinion="同意"))
DELIVER = (CaseWorkflow.deliver, DeliveryRequest(actor=CLERK, method=DeliveryMethod.ELECTRONIC))
RATE = (CaseWorkflow.rate, RatingRequest(actor=APPLICANT, level=5, channel="app"))


async def test_acceptance_and_the_department_result_in_one_task_leave_the_case_open(
    client: Client, engine: AsyncEngine
) -> None:
    queue = f"gov-cases-race-{uuid.uuid4().hex[:8]}"
    handle = await _start(client, engine, queue)
    accept = (
        CaseWorkflow.decide_acceptance,
        AcceptanceRequest(actor=CLERK, decision=AcceptanceDecision.ACCEPT),
    )
    answers = await _in_one_task(handle, accept, (CaseWorkflow.complete_task, _task_result(handle)))
    async with build_worker(client, engine, queue):
        await asyncio.wait_for(answers, 60)
        assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
        assert (await handle.query(CaseWorkflow.view)).status == "awaiting_signature"
        for update, request, status in (*SIGN, "approved"), (*DELIVER, "delivered"), (*RATE, "closed"):
            assert (await handle.execute_update(update, request)).status == status
        assert (await asyncio.wait_for(handle.result(), 30)).status == "closed"
        _met_in_one_task([e async for e in handle.fetch_history_events()])
    await replays_and_is_recorded(await handle.fetch_history(), "accepted_and_moved_on_closed")


async def test_delivery_and_the_rating_in_one_task_close_the_workflow(
    client: Client, engine: AsyncEngine
) -> None:
    queue = f"gov-cases-race-{uuid.uuid4().hex[:8]}"
    handle = await _start(client, engine, queue)
    async with build_worker(client, engine, queue):
        accept = AcceptanceRequest(actor=CLERK, decision=AcceptanceDecision.ACCEPT)
        await handle.execute_update(CaseWorkflow.decide_acceptance, accept)
        await handle.execute_update(CaseWorkflow.complete_task, _task_result(handle))
        assert (await handle.execute_update(*SIGN)).status == "approved"
    answers = await _in_one_task(handle, DELIVER, RATE)
    async with build_worker(client, engine, queue):
        delivered, rated = await asyncio.wait_for(answers, 60)
        assert rated.status == "closed"
        assert (await asyncio.wait_for(handle.result(), 30)).status == "closed"
        _met_in_one_task([e async for e in handle.fetch_history_events()])
    await replays_and_is_recorded(await handle.fetch_history(), "rated_with_delivery_closed")


async def test_the_inbox_row_is_not_held_while_the_case_takes_the_result(
    client: Client, engine: AsyncEngine, database_url: str
) -> None:
    """The case's own write closes the inbox row before it answers; a request dying after the
    update must not leave the row pending, so no request holds the row across the update."""
    queue = f"gov-cases-race-{uuid.uuid4().hex[:8]}"
    async with in_process_api(database_url, client, queue) as api:
        async with build_worker(client, engine, queue):
            case = await submit(api)
            await accept(api, case["case_id"])
            task = (await wait_for_tasks(api, case["case_id"], ["market"]))["market"]
        done = {"outcome": "pass", "opinion": "同意"}
        completing = asyncio.create_task(api.post(f"/tasks/{task['task_id']}/complete", "market-staff", done))
        await asyncio.sleep(1.0)  # the request now waits on the case, which has no worker
        assert not completing.done()
        row = select(ReviewTaskRow.status).where(ReviewTaskRow.task_id == task["task_id"])
        async with engine.connect() as conn:
            try:
                held = (await conn.execute(row.with_for_update(nowait=True))).scalar_one()
            except DBAPIError as exc:  # asserted once the request is answered, or it would hang
                held = f"locked: {exc.orig}"
            await conn.rollback()
        async with build_worker(client, engine, queue):
            answer = await asyncio.wait_for(completing, 60)
        assert held == "pending"
        assert answer.status_code == 200, answer.text
        assert answer.json()["status"] == "completed" and answer.json()["completed_by"] == "market-staff"
