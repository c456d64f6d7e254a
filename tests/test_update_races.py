"""Updates that reach a case together, in one workflow task, as they do after a worker or a
database outage (found by `python -m bench.chaos`): the case must still run its whole course."""

from __future__ import annotations

import asyncio
import os
import uuid

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHistory
from temporalio.worker import Replayer

from api.workflow_calls import start_case
from core.config import Settings
from core.seed import seed_snapshot
from core.temporal import case_workflow_id, data_converter
from core.types import (
    AcceptanceDecision,
    AcceptanceRequest,
    Actor,
    CaseInput,
    DeliveryMethod,
    DeliveryRequest,
    RatingRequest,
    Role,
    SignatureRequest,
    SignDecision,
    TaskCompletion,
    TaskOutcome,
)
from tests.test_replay import HISTORIES
from worker import WORKFLOWS, build_worker
from workflows.case import ACCEPTED_AND_MOVED_ON, CaseWorkflow

pytestmark = pytest.mark.asyncio(loop_scope="session")
CLERK = Actor(username="clerk1", role=Role.CLERK)
APPLICANT = Actor(username="applicant1", role=Role.APPLICANT)
STAFF = Actor(username="market-staff", role=Role.DEPARTMENT, department="market")
HANDLER = Actor(username="market-handler", role=Role.HANDLER, department="market")


def _case_input() -> CaseInput:
    snapshot = seed_snapshot("market-001")
    return CaseInput(
        case_id=f"RACE{uuid.uuid4().hex[:10].upper()}",
        item=snapshot,
        applicant_username="applicant1",
        channel="online",
        district="chaoyang",
        materials=[m.code for m in snapshot.materials if m.required],
        submitted_by=APPLICANT,
        rating_window_days=7,
    )


async def test_acceptance_and_the_department_result_in_one_task_leave_the_case_open(
    client: Client, engine: AsyncEngine
) -> None:
    queue = f"gov-cases-race-{uuid.uuid4().hex[:8]}"
    inp = _case_input()
    async with build_worker(client, engine, queue):
        await start_case(client, queue, inp)
    handle = client.get_workflow_handle_for(CaseWorkflow.run, case_workflow_id(inp.case_id))

    # No worker: both updates wait on the server, then arrive in the same workflow task.
    accept = AcceptanceRequest(actor=CLERK, decision=AcceptanceDecision.ACCEPT)
    accepting = asyncio.create_task(handle.execute_update(CaseWorkflow.decide_acceptance, accept))
    await asyncio.sleep(0.5)  # admitted first, so handled first
    result = TaskCompletion(
        actor=STAFF, task_id=f"{inp.case_id}-T1", outcome=TaskOutcome.PASS, opinion="同意"
    )
    completing = asyncio.create_task(handle.execute_update(CaseWorkflow.complete_task, result))
    await asyncio.sleep(0.5)
    async with build_worker(client, engine, queue):
        await asyncio.wait_for(asyncio.gather(accepting, completing), 60)
        events = [e async for e in handle.fetch_history_events()]
        # The race really happened: both updates accepted by one workflow task.
        kinds = [e.event_type for e in events]
        both = [EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED] * 2
        assert any(kinds[i : i + 2] == both for i in range(len(kinds))), "both updates in one task"
        assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
        assert (await handle.query(CaseWorkflow.view)).status == "awaiting_signature"
        sign = SignatureRequest(actor=HANDLER, decision=SignDecision.APPROVE, opinion="同意")
        assert (await handle.execute_update(CaseWorkflow.sign, sign)).status == "approved"
        delivery = DeliveryRequest(actor=CLERK, method=DeliveryMethod.ELECTRONIC)
        assert (await handle.execute_update(CaseWorkflow.deliver, delivery)).status == "delivered"
        rating = RatingRequest(actor=APPLICANT, level=5, channel="app")
        assert (await handle.execute_update(CaseWorkflow.rate, rating)).status == "closed"
        assert (await asyncio.wait_for(handle.result(), 30)).status == "closed"
        # ... and the case met it on the patched branch.
        patches = [
            e.marker_recorded_event_attributes.details["patch-data"].payloads[0].data
            for e in events
            if e.marker_recorded_event_attributes.marker_name == "core_patch"
        ]
        assert any(ACCEPTED_AND_MOVED_ON.encode() in p for p in patches), patches
    await _replays_and_is_recorded(await handle.fetch_history(), "accepted_and_moved_on_closed")


async def _replays_and_is_recorded(history: WorkflowHistory, name: str) -> None:
    """The replay guard for this shape (tests/test_replay.py replays the recording in CI)."""
    replayer = Replayer(workflows=WORKFLOWS, data_converter=data_converter(Settings()))
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, result.replay_failure
    path = HISTORIES / f"{name}.json"
    if os.environ.get("RECORD_HISTORIES") in ("1", "overwrite") and not path.exists():
        path.write_text(history.to_json())
