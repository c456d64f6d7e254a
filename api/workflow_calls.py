"""Calls from the API into case workflows, with refusals mapped to HTTP errors."""

from __future__ import annotations

from typing import Any

from temporalio.client import (
    Client,
    RPCTimeoutOrCancelledError,
    WithStartWorkflowOperation,
    WorkflowUpdateFailedError,
)
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from api.errors import CASE_ERROR_STATUS, ApiError
from core import search_attributes as sa
from core.temporal import case_workflow_id
from core.types import DISTRICTS, CaseInput, CaseView
from workflows.case import CaseWorkflow


def _summary(inp: CaseInput) -> str:
    # Shown in the Temporal UI; must never carry personal data.
    district = DISTRICTS.get(inp.district, inp.district)
    return f"{inp.item.name}｜{district}｜办件号 {inp.case_id}"


async def start_case(client: Client, task_queue: str, inp: CaseInput) -> CaseView | None:
    """Start the case's workflow (or join the running one); None if it has already ended."""
    operation = WithStartWorkflowOperation(
        CaseWorkflow.run,
        inp,
        id=case_workflow_id(inp.case_id),
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        search_attributes=TypedSearchAttributes(
            [
                SearchAttributePair(sa.CASE_STATUS, "submitted"),
                SearchAttributePair(sa.ITEM_CODE, inp.item.code),
                SearchAttributePair(sa.DEPARTMENT, inp.item.lead_department),
                SearchAttributePair(sa.DISTRICT, inp.district),
                SearchAttributePair(sa.OVERDUE, False),
            ]
        ),
        static_summary=_summary(inp),
        static_details=f"事项编码 {inp.item.code}（第 {inp.item.version} 版）；渠道 {inp.channel}",
    )
    try:
        return await client.execute_update_with_start_workflow(
            CaseWorkflow.registered, start_workflow_operation=operation
        )
    except WorkflowAlreadyStartedError:
        return None
    except RPCError as exc:
        raise _unavailable(exc) from exc
    except RPCTimeoutOrCancelledError as exc:  # the case is recorded: a retry with the key finds it
        raise _timed_out() from exc


async def send_update(client: Client, workflow_id: str, update: Any, request: Any) -> Any:
    """Run a workflow update; the workflow's refusals become HTTP errors."""
    handle = client.get_workflow_handle(workflow_id)
    try:
        return await handle.execute_update(update, request)
    except WorkflowUpdateFailedError as exc:
        cause = exc.cause
        if isinstance(cause, ApplicationError) and cause.type in CASE_ERROR_STATUS:
            raise ApiError(CASE_ERROR_STATUS[cause.type], cause.type, cause.message) from exc
        raise
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise ApiError(409, "invalid_state", "流程已结束，不能再执行此操作") from exc
        raise _unavailable(exc) from exc
    except RPCTimeoutOrCancelledError as exc:
        raise _timed_out() from exc


def _timed_out() -> ApiError:
    return ApiError(503, "workflow_engine_timeout", "办件引擎响应超时，请稍后用同一请求重试")


def _unavailable(exc: RPCError) -> ApiError:
    return ApiError(503, "workflow_engine_unavailable", "办件引擎暂不可用，请稍后重试", exc.message)
