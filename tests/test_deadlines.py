"""Deadline timers under Temporal's time-skipping test server, with the real read model."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
import pytest_asyncio
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from api.workflow_calls import start_case
from core import search_attributes as sa
from core.models import NotificationRow, ReviewTaskRow, TimelineEntry
from core.seed import seed_snapshot
from core.temporal import case_workflow_id
from core.types import (
    AcceptanceDecision,
    AcceptanceRequest,
    Actor,
    CaseInput,
    DeliveryMethod,
    DeliveryRequest,
    Role,
    SignatureRequest,
    SignDecision,
    TaskOutcome,
    TaskResult,
    WithdrawRequest,
)
from tests.conftest import SESSION, venv_binary
from worker import build_worker
from workflows.case import SUPERVISOR_INBOX, CaseWorkflow

pytestmark = pytest.mark.asyncio(loop_scope="session")
QUEUE = "gov-cases-time-skipping"
CLERK = Actor(username="clerk1", role=Role.CLERK)
APPLICANT = Actor(username="applicant1", role=Role.APPLICANT)


@pytest_asyncio.fixture(**SESSION)
async def skipping(engine: AsyncEngine) -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=venv_binary("temporal-test-server"),
        data_converter=pydantic_data_converter,
    )
    # The Java test server only knows search attributes registered explicitly.
    types = {
        key.name: IndexedValueType.Value(f"INDEXED_VALUE_TYPE_{key.indexed_value_type.name}")
        for key in sa.ALL
    }
    await env.client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(namespace="default", search_attributes=types)
    )
    async with build_worker(env.client, engine, QUEUE):
        yield env
    await env.shutdown()


def _case_input(item_code: str = "market-001") -> CaseInput:
    snapshot = seed_snapshot(item_code)
    return CaseInput(
        case_id=f"TS{uuid.uuid4().hex[:12].upper()}",
        item=snapshot,
        applicant_username="applicant1",
        channel="online",
        district="chaoyang",
        materials=[m.code for m in snapshot.materials if m.required],
        submitted_by=APPLICANT,
        rating_window_days=7,
    )


async def _events(engine: AsyncEngine, case_id: str) -> list[str]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(TimelineEntry.event).where(TimelineEntry.case_id == case_id).order_by(TimelineEntry.seq)
        )
        return list(rows.scalars())


async def test_acceptance_deadline_passes_and_escalates(skipping, engine: AsyncEngine) -> None:
    inp = _case_input()
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
    # Withdrawing closes the open review activity, which would otherwise stop time skipping.
    await handle.execute_update(CaseWorkflow.withdraw, WithdrawRequest(actor=APPLICANT))
    assert (await handle.result()).status == "withdrawn"


async def _task_token(engine: AsyncEngine, case_id: str) -> bytes:
    async with engine.connect() as conn:
        for _ in range(200):
            token = (
                await conn.execute(select(ReviewTaskRow.task_token).where(ReviewTaskRow.case_id == case_id))
            ).scalar()
            if token:
                return token
            await conn.rollback()
            await asyncio.sleep(0.05)
    raise AssertionError("no review task was created")


async def test_completion_deadline_and_unrated_close(skipping, engine: AsyncEngine) -> None:
    inp = _case_input()
    await start_case(skipping.client, QUEUE, inp)
    handle = skipping.client.get_workflow_handle_for(CaseWorkflow.run, case_workflow_id(inp.case_id))
    accepted = await handle.execute_update(
        CaseWorkflow.decide_acceptance,
        AcceptanceRequest(actor=CLERK, decision=AcceptanceDecision.ACCEPT),
    )
    assert accepted.completion_deadline is not None

    token = await _task_token(engine, inp.case_id)
    result = TaskResult(outcome=TaskOutcome.PASS, completed_by="market-staff")
    await skipping.client.get_async_activity_handle(task_token=token).complete(result)
    for _ in range(200):
        if (await handle.query(CaseWorkflow.view)).status == "awaiting_signature":
            break
        await asyncio.sleep(0.05)

    # The test server cannot skip time while an activity is open, so the clock jumps
    # here, while the case waits for its signature (the timer spans both stages).
    await skipping.sleep(timedelta(days=6))  # promised limit: 1 working day
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
