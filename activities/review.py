"""Department review tasks (部门审查): an inbox row per task.

Since review-updates-v1 a short activity opens the rows and the department's
`POST /tasks/{id}/complete` sends its result to the case as an update. Cases from before
keep one asynchronously completed activity per task: its token is stored beside the row and
the API completes it through the Temporal client; the token never leaves the server.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from activities.read_model import add_review_tasks
from core.models import ReviewTaskRow
from workflows.case_messages import ReviewTask, TaskResult, TaskStatus


class ReviewActivities:
    def __init__(self, engine: AsyncEngine, client: Client) -> None:
        self._engine = engine
        self._client = client

    @activity.defn
    async def open_review_tasks(self, tasks: list[ReviewTask]) -> None:
        """Put each task in its department's inbox; a retry adds nothing."""
        async with self._engine.begin() as conn:
            await add_review_tasks(conn, tasks, datetime.now(UTC))

    @activity.defn
    async def department_review(self, task: ReviewTask) -> TaskResult:
        token = activity.info().task_token
        row = insert(ReviewTaskRow).values(
            **task.model_dump(),
            status=TaskStatus.PENDING.value,
            opinion="",
            task_token=token,
            created_at=datetime.now(UTC),
        )
        # A retried attempt gets a new token; only a still-pending task may take it.
        row = row.on_conflict_do_update(
            index_elements=["task_id"],
            set_={"task_token": token},
            where=ReviewTaskRow.status == TaskStatus.PENDING.value,
        )
        async with self._engine.begin() as conn:
            await conn.execute(row)
        activity.raise_complete_async()

    @activity.defn
    async def cancel_open_tasks(self, case_id: str) -> None:
        """Close a withdrawn case's open tasks, in the inbox and on the Temporal server."""
        open_tasks = (
            select(ReviewTaskRow.task_token)
            .where(ReviewTaskRow.case_id == case_id)
            .where(ReviewTaskRow.status == TaskStatus.PENDING.value)
        )
        async with self._engine.connect() as conn:
            tokens = [t for t in (await conn.execute(open_tasks)).scalars() if t]
        for token in tokens:
            # Otherwise the server keeps the activity open until its timeout, a year away.
            try:
                await self._client.get_async_activity_handle(task_token=token).report_cancellation()
            except RPCError as exc:
                if exc.status != RPCStatusCode.NOT_FOUND:
                    raise
        async with self._engine.begin() as conn:
            await conn.execute(
                update(ReviewTaskRow)
                .where(ReviewTaskRow.case_id == case_id)
                .where(ReviewTaskRow.status == TaskStatus.PENDING.value)
                .values(status=TaskStatus.CANCELLED.value, completed_at=datetime.now(UTC))
            )
