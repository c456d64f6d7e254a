"""Idempotent writes shared by the read-model activities."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from core.models import NotificationRow, Rating
from workflows.case_messages import Notification
from workflows.rating_messages import RatingRecord


@lru_cache(maxsize=32)
def _forward_upsert(model, key: str, columns: tuple[str, ...]):
    upsert = insert(model)
    return upsert.on_conflict_do_update(
        index_elements=[key],
        set_={c: upsert.excluded[c] for c in columns if c != key},
        where=model.last_seq <= upsert.excluded.last_seq,
    )


@lru_cache(maxsize=32)
def _insert_new(model):
    return insert(model).on_conflict_do_nothing()


# Statements are built once per shape and take their rows as parameters: SQLAlchemy compiles
# each once, instead of building and compiling a new statement for every write.
async def forward_upsert(conn: AsyncConnection, model, key: str, row: dict) -> None:
    """Insert or update a row that only moves forward: an older `last_seq` never overwrites."""
    await conn.execute(_forward_upsert(model, key, tuple(row)), row)


async def insert_new(conn: AsyncConnection, model, rows: Sequence[dict]) -> None:
    """Insert rows whose key may already be there (a retried write leaves those as they are)."""
    if rows:
        await conn.execute(_insert_new(model), list(rows))


async def add_rating(conn: AsyncConnection, rating: RatingRecord) -> None:
    """A matter's rating, once (its id is the primary key)."""
    await insert_new(conn, Rating, [{**rating.model_dump(exclude={"at"}), "created_at": rating.at}])


async def add_notifications(conn: AsyncConnection, notifications: Sequence[Notification]) -> None:
    """Append to the outbox; ids derive from the workflow's event sequence, so retries add nothing."""
    rows = [{**n.model_dump(exclude={"at"}), "created_at": n.at} for n in notifications]
    await insert_new(conn, NotificationRow, rows)
