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
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from core import search_attributes as sa
from core.config import Settings
from core.temporal import data_converter
from tests.conftest import SESSION, venv_binary
from tests.workflows.fakes import Harness, unique
from worker import WORKFLOWS


@pytest_asyncio.fixture(**SESSION)
async def skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=venv_binary("temporal-test-server"),
        data_converter=data_converter(Settings()),
    )
    types = {
        key.name: IndexedValueType.Value(f"INDEXED_VALUE_TYPE_{key.indexed_value_type.name}")
        for key in sa.ALL
    }
    await env.client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(namespace="default", search_attributes=types)
    )
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
