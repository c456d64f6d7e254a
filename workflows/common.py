"""What every workflow here shares: activity timeouts, retries, and how refusals are raised."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from core.types import CaseErrorCode

QUICK = timedelta(seconds=30)
# Read-model writes and calendar look-ups must eventually succeed; never give up on them.
RETRY_FOREVER = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))


def refuse(code: CaseErrorCode, message: str) -> ApplicationError:
    """A refusal an update validator raises: the caller gets it synchronously, history keeps nothing."""
    return ApplicationError(message, type=code.value, non_retryable=True)
