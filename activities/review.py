"""Department review tasks (部门审查): an inbox row per task.

The case opens the rows with the record of its acceptance, and the department's
`POST /tasks/{id}/complete` sends its result to the case as an update.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity

from core.models import ReviewTaskRow
from core.types import TaskStatus


class ReviewActivities:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    @activity.defn
    async def cancel_open_tasks(self, case_id: str) -> None:
        """Close a withdrawn case's open tasks in the departments' inboxes."""
        async with self._engine.begin() as conn:
            await conn.execute(
                update(ReviewTaskRow)
                .where(ReviewTaskRow.case_id == case_id)
                .where(ReviewTaskRow.status == TaskStatus.PENDING.value)
                .values(status=TaskStatus.CANCELLED.value, completed_at=datetime.now(UTC))
            )
