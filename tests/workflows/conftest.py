"""Workflows under Temporal's time-skipping test server alone: no PostgreSQL, no dev server, no
API, so these tests are in the fast tier (`make test-fast`). A test takes `harness`: a worker of
its own running the real workflows with every activity faked (tests/workflows/fakes.py), on
`skipping_env.client`; timers of days pass in milliseconds.

The Java test server cannot list or count workflows, and it knows only the search attributes
registered here (an unregistered one makes the workflow task fail forever: the test hangs).
It does not skip time while any workflow task is outstanding, and it keeps that lock for good
when a workflow is terminated with one in flight or a child ends after its parent has: the
harness ends what a test left running safely, and checks that time still runs after each test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from tests.conftest import SESSION, start_time_skipping
from tests.workflows.fakes import Harness, unique
from worker import WORKFLOWS


@pytest_asyncio.fixture(**SESSION)
async def skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await start_time_skipping()
    yield env
    await env.shutdown()


@pytest_asyncio.fixture(loop_scope="session")
async def harness(skipping_env: WorkflowEnvironment) -> AsyncIterator[Harness]:
    """A worker of this test's own (its own task queue) running the real workflows in Temporal's
    sandbox, with every activity replaced by the in-memory fakes of tests/workflows/fakes.py."""
    h = Harness(skipping_env, unique("fast-"))
    async with Worker(
        skipping_env.client, task_queue=h.queue, workflows=WORKFLOWS, activities=h.fakes.activities()
    ):
        yield h
        await h.end_open_workflows()
    await h.check_time_runs()
