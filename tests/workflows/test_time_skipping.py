"""The time-skipping environment itself: a month-long timer passes at once, and the project's
search attributes and data converter work there."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import timedelta

import pytest
from temporalio import workflow
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from core import search_attributes as sa

pytestmark = pytest.mark.asyncio(loop_scope="session")


@workflow.defn
class MonthAway:
    @workflow.run
    async def run(self, days: int) -> int:
        started = workflow.now()
        workflow.upsert_search_attributes([sa.CASE_STATUS.value_set("waiting"), sa.OVERDUE.value_set(False)])
        await workflow.sleep(timedelta(days=days))
        return (workflow.now() - started).days


async def test_a_month_long_timer_passes_at_once(skipping_env: WorkflowEnvironment) -> None:
    queue = f"skipping-{uuid.uuid4().hex[:8]}"
    started = time.monotonic()
    async with Worker(skipping_env.client, task_queue=queue, workflows=[MonthAway]):
        handle = await skipping_env.client.start_workflow(
            MonthAway.run, 30, id=f"month-away-{uuid.uuid4().hex[:8]}", task_queue=queue
        )
        assert await asyncio.wait_for(handle.result(), timeout=30) == 30
        described = await handle.describe()
    assert described.typed_search_attributes.get(sa.CASE_STATUS) == "waiting"
    assert time.monotonic() - started < 20
