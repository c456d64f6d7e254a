"""Calls from the API into case and bundle workflows, with refusals mapped to HTTP errors."""

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
from core.temporal import bundle_workflow_id, case_workflow_id
from core.types import DISTRICTS
from workflows.bundle import BundleWorkflow
from workflows.bundle_messages import BundleInput, BundleView
from workflows.case import CaseWorkflow
from workflows.case_messages import CaseInput, CaseView


async def start_case(client: Client, task_queue: str, inp: CaseInput) -> CaseView | None:
    """Start the case's workflow (or join the running one); None if it has already ended."""
    operation = WithStartWorkflowOperation(
        CaseWorkflow.run,
        inp,
        id=case_workflow_id(inp.case_id),
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        search_attributes=sa.case_attributes(inp),
        static_summary=sa.case_summary(inp),
        static_details=f"事项编码 {inp.item.code}（第 {inp.item.version} 版）；渠道 {inp.channel}",
    )
    return await _start_registered(client, CaseWorkflow.registered, operation)


async def start_bundle(client: Client, task_queue: str, inp: BundleInput) -> BundleView | None:
    """Start the bundle's workflow (or join the running one); None if it has already ended."""
    district = DISTRICTS.get(inp.district, inp.district)
    operation = WithStartWorkflowOperation(
        BundleWorkflow.run,
        inp,
        id=bundle_workflow_id(inp.bundle_id),
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        search_attributes=TypedSearchAttributes(
            [
                SearchAttributePair(sa.BUNDLE_ID, inp.bundle_id),
                SearchAttributePair(sa.DEPARTMENT, inp.theme.lead_department),
                SearchAttributePair(sa.DISTRICT, inp.district),
            ]
        ),
        static_summary=f"{inp.theme.name}｜{district}｜一件事 {inp.bundle_id}",
        static_details="成员事项：" + "、".join(m.item.name for m in inp.theme.members),
    )
    return await _start_registered(client, BundleWorkflow.registered, operation)


async def _start_registered(client: Client, registered: Any, operation: WithStartWorkflowOperation) -> Any:
    try:
        return await client.execute_update_with_start_workflow(registered, start_workflow_operation=operation)
    except WorkflowAlreadyStartedError:
        return None
    except RPCError as exc:
        raise _unavailable(exc) from exc
    except RPCTimeoutOrCancelledError as exc:  # the submission is recorded: a retry with the key finds it
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
