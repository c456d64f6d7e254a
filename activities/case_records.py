"""Writes of the case read model: the case row, its timeline and its notification outbox.

Each write is idempotent: timeline and outbox rows are keyed by the workflow's event
sequence, and the case row only moves forward (`last_seq`), so retries and out-of-order
completions never duplicate or regress anything.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from temporalio import activity

from activities.read_model import (
    add_notifications,
    add_rating,
    add_review_tasks,
    forward_upsert,
    insert_new,
)
from core.models import Case, Escalation, ReviewTaskRow, TimelineEntry
from core.types import CaseView, RecordRequest, TaskStatus
from core.types import Escalation as EscalationRequest


def _case_row(view: CaseView) -> dict:
    return {
        "case_id": view.case_id,
        "status": view.status.value,
        "item_code": view.item_code,
        "item_name": view.item_name,
        "item_version": view.item_version,
        "departments": view.departments,
        "lead_department": view.lead_department,
        "applicant_username": view.applicant_username,
        "channel": view.channel.value,
        "district": view.district,
        "submitted_at": view.submitted_at,
        "accepted_at": view.accepted_at,
        "decided_at": view.decided_at,
        "acceptance_deadline": view.acceptance_deadline,
        "completion_deadline": view.completion_deadline,
        "overdue": view.overdue,
        "warning": view.warning,
        "view": view.model_dump(mode="json"),
        "last_seq": view.last_seq,
        "updated_at": datetime.now(UTC),
    }


async def _close_inbox_rows(conn: AsyncConnection, view: CaseView) -> None:
    """The inbox follows the case: a result the case holds closes its task row, even if the
    request that sent it died before marking the row itself."""
    for task in view.tasks:
        if task.status != TaskStatus.COMPLETED:
            continue
        # A row a request still holds is skipped: only the completion of a case from before
        # review-updates-v1 holds it (its activity's), and that request marks the row itself.
        open_row = (
            select(ReviewTaskRow.task_id)
            .where(ReviewTaskRow.task_id == task.task_id, ReviewTaskRow.status == TaskStatus.PENDING.value)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        await conn.execute(
            update(ReviewTaskRow)
            .where(ReviewTaskRow.task_id == open_row)
            .values(
                status=TaskStatus.COMPLETED.value,
                outcome=task.outcome.value if task.outcome else None,
                opinion=task.opinion,
                completed_by=task.completed_by,
                completed_at=datetime.now(UTC),
            )
        )


class CaseRecordActivities:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    @activity.defn
    async def record_case(self, req: RecordRequest) -> None:
        async with self._engine.begin() as conn:
            await forward_upsert(conn, Case, "case_id", _case_row(req.view))
            events = [{"case_id": req.view.case_id, **e.model_dump()} for e in req.events]
            await insert_new(conn, TimelineEntry, events)
            await add_notifications(conn, req.notifications)
            await add_review_tasks(conn, req.open_tasks, datetime.now(UTC))
            if req.rating is not None:
                await add_rating(conn, req.rating)
            if any(e.event == "task_completed" for e in req.events):
                await _close_inbox_rows(conn, req.view)

    @activity.defn
    async def escalate(self, req: EscalationRequest) -> None:
        """Put a missed deadline in the supervisors' inbox (督办), once per case and kind."""
        async with self._engine.begin() as conn:
            await insert_new(conn, Escalation, [{**req.model_dump(), "created_at": datetime.now(UTC)}])
