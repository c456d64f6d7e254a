"""Idempotent writes shared by the read-model activities."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from core.models import NotificationRow, Rating, ReviewTaskRow
from core.types import Notification, RatingRecord, ReviewTask, TaskStatus


def forward_upsert(model, key: str, row: dict):
    """Insert or update a row that only moves forward: an older `last_seq` never overwrites."""
    upsert = insert(model).values(**row)
    return upsert.on_conflict_do_update(
        index_elements=[key],
        set_={k: upsert.excluded[k] for k in row if k != key},
        where=model.last_seq <= upsert.excluded.last_seq,
    )


async def add_review_tasks(conn: AsyncConnection, tasks: Sequence[ReviewTask], now: datetime) -> None:
    """Put each task in its department's inbox; a retry adds nothing."""
    if tasks:
        rows = [
            {
                **t.model_dump(),
                "status": TaskStatus.PENDING.value,
                "opinion": "",
                "task_token": b"",
                "created_at": now,
            }
            for t in tasks
        ]
        await conn.execute(insert(ReviewTaskRow).values(rows).on_conflict_do_nothing())


async def add_rating(conn: AsyncConnection, rating: RatingRecord) -> None:
    """A matter's rating, once (its id is the primary key)."""
    row = {**rating.model_dump(exclude={"at"}), "created_at": rating.at}
    await conn.execute(insert(Rating).values(**row).on_conflict_do_nothing())


async def add_notifications(conn: AsyncConnection, notifications: Sequence[Notification]) -> None:
    """Append to the outbox; ids derive from the workflow's event sequence, so retries add nothing."""
    if notifications:
        rows = [{**n.model_dump(exclude={"at"}), "created_at": n.at} for n in notifications]
        await conn.execute(insert(NotificationRow).values(rows).on_conflict_do_nothing())
