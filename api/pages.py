"""Pages of a list (分页): the limit and offset every list takes, and one page with its total."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, TypeVar

from fastapi import Query
from sqlalchemy import func
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from api.schemas import MAX_INT

Limit = Annotated[int, Query(ge=1, le=100)]
Offset = Annotated[int, Query(ge=0, le=MAX_INT)]
Row = TypeVar("Row")


async def page_of(
    db: AsyncSession, query: SelectOfScalar[Row], order_by: Sequence[Any], limit: int, offset: int
) -> tuple[list[Row], int]:
    """One page of `query`'s rows in `order_by` order, and how many rows there are in all."""
    total = (await db.exec(select(func.count()).select_from(query.subquery()))).one()
    rows = (await db.exec(query.order_by(*order_by).limit(limit).offset(offset))).all()
    return list(rows), total
