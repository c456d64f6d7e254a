"""The case's read-model write (`record_case`): one statement per record, idempotent, forward only.

Driven directly against PostgreSQL: the lifecycle tests cover the ordinary records through the
whole stack, these the edges a running case rarely reaches.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from activities.case_records import CaseRecordActivities
from core.models import Case, NotificationRow, ReviewTaskRow, TimelineEntry
from workflows.case_messages import CaseEvent, CaseView, Notification, RecordRequest, ReviewTask, TaskView

pytestmark = pytest.mark.asyncio(loop_scope="session")


def _view(case_id: str, status: str, seq: int, task: TaskView) -> CaseView:
    now = datetime.now(UTC)
    return CaseView(
        case_id=case_id,
        status=status,
        item_code="market-001",
        item_name="食品经营许可",
        item_version=1,
        departments=["market"],
        lead_department="market",
        signature_mode="sign_once",
        applicant_username="applicant1",
        channel="online",
        district="chaoyang",
        materials=[],
        submitted_at=now,
        tasks=[task],
        last_seq=seq,
    )


def _event(seq: int, event: str) -> CaseEvent:
    return CaseEvent(seq=seq, at=datetime.now(UTC), event=event, actor="system", role="system", message=event)


async def _count(engine: AsyncEngine, model, case_id: str) -> int:
    async with engine.connect() as conn:
        return (await conn.execute(select(func.count()).where(model.case_id == case_id))).scalar_one()


async def test_a_record_that_opens_and_closes_a_task_leaves_it_completed(engine: AsyncEngine) -> None:
    """Accepted and reviewed in one workflow task (after an outage): the row it opens is closed,
    though one statement cannot see the rows it inserts."""
    case_id = f"RC{uuid.uuid4().hex[:12]}"
    task_id = f"{case_id}-T1"
    done = TaskView(task_id=task_id, department="market", status="completed", outcome="pass")
    done.opinion, done.completed_by = "同意", "s1"
    inbox = ReviewTask(
        task_id=task_id, case_id=case_id, department="market", item_code="market-001", item_name="许可"
    )
    request = RecordRequest(
        view=_view(case_id, "awaiting_signature", 2, done),
        events=[_event(1, "accepted"), _event(2, "task_completed")],
        open_tasks=[inbox],
    )
    await CaseRecordActivities(engine).record_case(request)

    async with engine.connect() as conn:
        row = (await conn.execute(select(ReviewTaskRow).where(ReviewTaskRow.task_id == task_id))).one()
    assert (row.status, row.outcome, row.opinion, row.completed_by) == ("completed", "pass", "同意", "s1")
    assert row.completed_at is not None


async def test_records_repeat_and_arrive_late_without_duplicates_or_regress(engine: AsyncEngine) -> None:
    case_id = f"RC{uuid.uuid4().hex[:12]}"
    pending = TaskView(task_id=f"{case_id}-T1", department="market", status="pending")
    note = Notification(
        notification_id=f"{case_id}:1:applicant1",
        case_id=case_id,
        recipient="applicant1",
        message="已受理",
        at=datetime.now(UTC),
    )
    first = RecordRequest(
        view=_view(case_id, "under_review", 1, pending), events=[_event(1, "accepted")], notifications=[note]
    )
    later = RecordRequest(view=_view(case_id, "approved", 2, pending), events=[_event(2, "approved")])
    records = CaseRecordActivities(engine)
    await records.record_case(first)
    await records.record_case(later)
    await records.record_case(first)  # a retry that arrives after the next step

    async with engine.connect() as conn:
        case = (await conn.execute(select(Case).where(Case.case_id == case_id))).one()
    assert (case.status, case.last_seq, case.view["status"]) == ("approved", 2, "approved")
    assert case.departments == ["market"] and case.submitted_at.tzinfo is not None
    assert await _count(engine, TimelineEntry, case_id) == 2
    assert await _count(engine, NotificationRow, case_id) == 1
