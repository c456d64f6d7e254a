"""Deadline computation, done here so workflow code never touches the calendar."""

from __future__ import annotations

from datetime import datetime

from temporalio import activity

from core.calendar import add_working_days
from core.types import DeadlineRequest


@activity.defn
async def compute_deadline(req: DeadlineRequest) -> datetime:
    """End of the Nth working day after `start` (Asia/Shanghai)."""
    return add_working_days(req.start, req.working_days)
