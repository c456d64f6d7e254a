"""Idempotent writes shared by the read-model activities."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import Table
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.dialects.postgresql import Insert, insert
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import SQLModel

from core.models import NotificationRow, Rating
from workflows.case_messages import Notification
from workflows.rating_messages import RatingRecord


def table_of(model: type[SQLModel]) -> Table:
    """A table model's table (sqlmodel sets `__table__` without declaring it)."""
    table = sa_inspect(model).local_table
    assert isinstance(table, Table)
    return table


@lru_cache(maxsize=32)
def _forward_upsert(model: type[SQLModel], key: str, columns: tuple[str, ...]) -> Insert:
    upsert = insert(model)
    return upsert.on_conflict_do_update(
        index_elements=[key],
        set_={c: upsert.excluded[c] for c in columns if c != key},
        where=upsert.table.c.last_seq <= upsert.excluded.last_seq,
    )


@lru_cache(maxsize=32)
def _insert_new(model: type[SQLModel]) -> Insert:
    return insert(model).on_conflict_do_nothing()


# Statements are built once per shape and take their rows as parameters: SQLAlchemy compiles
# each once, instead of building and compiling a new statement for every write.
async def forward_upsert(conn: AsyncConnection, model: type[SQLModel], key: str, row: dict[str, Any]) -> None:
    """Insert or update a row that only moves forward: an older `last_seq` never overwrites."""
    await conn.execute(_forward_upsert(model, key, tuple(row)), row)


async def insert_new(conn: AsyncConnection, model: type[SQLModel], rows: Sequence[dict[str, Any]]) -> None:
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
