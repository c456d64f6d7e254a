"""How the API answers when Temporal itself times out (the edge, simulated)."""

from __future__ import annotations

import pytest
from temporalio.client import WorkflowUpdateRPCTimeoutOrCancelledError

from api.errors import ApiError
from api.workflow_calls import send_update

pytestmark = pytest.mark.asyncio(loop_scope="session")


class _SlowHandle:
    async def execute_update(self, update, request):
        raise WorkflowUpdateRPCTimeoutOrCancelledError()


class _SlowClient:
    def get_workflow_handle(self, workflow_id: str) -> _SlowHandle:
        return _SlowHandle()


async def test_an_engine_timeout_is_a_retryable_503() -> None:
    with pytest.raises(ApiError) as refused:
        await send_update(_SlowClient(), "case-X", object(), object())
    assert refused.value.status == 503 and refused.value.code == "workflow_engine_timeout"
    assert "重试" in refused.value.message
