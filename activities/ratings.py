"""好差评 read-model writes: ratings and the rectification loop, idempotent like the case's."""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col
from temporalio import activity

from activities.read_model import add_notifications, forward_upsert, insert_new
from core.models import Rectification, Visit, VisitRating
from workflows.case_messages import Notification
from workflows.rating_messages import BAD_RATING_MAX
from workflows.rectification_messages import RectificationRecord
from workflows.visit_messages import VisitRecord, VisitStatus


class RatingActivities:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    @activity.defn
    async def record_visit(self, record: VisitRecord) -> None:
        """A visit's rating (once: the primary key) and its new status (only out of `open`)."""
        view = record.view
        async with self._engine.begin() as conn:
            rating = record.rating
            if rating is not None:
                row = {**rating.model_dump(exclude={"at"}), "created_at": rating.at}
                await insert_new(conn, VisitRating, [row])
                if rating.rater is not None and rating.level <= BAD_RATING_MAX:
                    note = Notification(
                        notification_id=f"{view.visit_id}:rated:{rating.rater}",
                        case_id=view.visit_id,
                        recipient=rating.rater,
                        message=f"您对本次办事（{view.visit_id}）的评价已转责任部门核实整改（7日内办结）",
                        at=rating.at,
                    )
                    await add_notifications(conn, [note])
            await conn.execute(
                update(Visit)
                .where(col(Visit.visit_id) == view.visit_id, col(Visit.status) == VisitStatus.OPEN.value)
                .values(status=view.status.value, view=view.model_dump(mode="json"))
            )

    @activity.defn
    async def record_rectification(self, record: RectificationRecord) -> None:
        view = record.view
        replied, deadline = view.replied_at, view.deadline
        # No deadline yet only while the run arms its clock; the record that follows has one.
        on_time = None if replied is None or deadline is None else replied <= deadline
        row = {
            "rectification_id": view.rectification_id,
            "source": view.source.value,
            "case_id": view.case_id,
            "department": view.department,
            "rater": view.rater,
            "status": view.status.value,
            "outcome": view.outcome,
            "deadline": view.deadline,
            "overdue": view.overdue,
            "on_time": on_time,
            "opened_at": view.opened_at,
            "closed_at": view.closed_at,
            "view": view.model_dump(mode="json"),
            "last_seq": view.last_seq,
        }
        async with self._engine.begin() as conn:
            await forward_upsert(conn, Rectification, "rectification_id", row)
            await add_notifications(conn, record.notifications)
