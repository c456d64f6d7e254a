"""Workflows under Temporal's time-skipping test server alone: no PostgreSQL, no dev server, no
API, so these tests are in the fast tier (`make test-fast`). Stub the activities a test needs
and run a worker of its own on `skipping_env.client`; timers of days pass in milliseconds.

The Java test server cannot list or count workflows, and it knows only the search attributes
registered here (an unregistered one makes the workflow task fail forever: the test hangs)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.testing import WorkflowEnvironment

from core import search_attributes as sa
from core.config import Settings
from core.temporal import data_converter
from tests.conftest import SESSION, venv_binary


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
