"""What every workflow here shares: activity timeouts, retries, and how refusals are raised."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.case_records import CaseRecordActivities
    from core.types import CaseErrorCode
    from workflows.case_messages import Escalation

QUICK = timedelta(seconds=30)
# Read-model writes and calendar look-ups must eventually succeed; never give up on them.
RETRY_FOREVER = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))


async def quick_activity(activity: Callable[..., Any], arg: Any) -> Any:
    """A short activity that must eventually succeed. Local: one marker event in history instead
    of three events, a workflow task and two dispatches."""
    return await workflow.execute_local_activity(
        activity, arg, start_to_close_timeout=QUICK, retry_policy=RETRY_FOREVER
    )


async def escalate(escalation: Escalation) -> None:
    """督办: a missed deadline goes to the supervisors' list."""
    await quick_activity(CaseRecordActivities.escalate, escalation)


def refuse(code: CaseErrorCode, message: str) -> ApplicationError:
    """A refusal an update validator raises: the caller gets it synchronously, history keeps nothing."""
    return ApplicationError(message, type=code.value, non_retryable=True)
