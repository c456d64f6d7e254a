"""What every workflow here shares: activity timeouts, retries, and how refusals are raised."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from core.types import CaseErrorCode

QUICK = timedelta(seconds=30)
# Read-model writes and calendar look-ups must eventually succeed; never give up on them.
RETRY_FOREVER = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))
# Short read-model writes and deadline look-ups run as local activities (one marker event instead
# of three events, a workflow task and two dispatches each); workflows started before keep theirs.
LOCAL_ACTIVITIES = "local-activities-v1"


# One patch for every history-saving change made together (record_rating local, the review's end
# recorded with the last result, search attributes upserted only when they change): a workflow
# started since records this one marker, and its TemporalChangeVersion upsert, instead of one of
# each per earlier patch. Histories from before replay through the earlier patches.
LEAN_HISTORY = "lean-history-v1"
# The first `CaseInput.revision` that is lean by its input, without the patch.
LEAN_BY_INPUT = 1


def lean_history(by_input: bool = False) -> bool:
    """True for workflows started since `lean-history-v1`: told by their input (`by_input`, no
    marker), else by the patch marker. A workflow that uses it calls it first thing in `run`, so
    the answer is fixed for its whole life."""
    return by_input or workflow.patched(LEAN_HISTORY)


async def quick_activity(activity: Callable[..., Any], arg: Any, lean: bool = False) -> Any:
    """A short activity that must eventually succeed: local since `local-activities-v1`. A caller
    that already knows it is lean says so (`lean`), and asks for no patch."""
    if lean or lean_history() or workflow.patched(LOCAL_ACTIVITIES):
        return await workflow.execute_local_activity(
            activity, arg, start_to_close_timeout=QUICK, retry_policy=RETRY_FOREVER
        )
    return await workflow.execute_activity(
        activity, arg, start_to_close_timeout=QUICK, retry_policy=RETRY_FOREVER
    )


def refuse(code: CaseErrorCode, message: str) -> ApplicationError:
    """A refusal an update validator raises: the caller gets it synchronously, history keeps nothing."""
    return ApplicationError(message, type=code.value, non_retryable=True)
