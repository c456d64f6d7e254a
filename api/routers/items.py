"""The service item catalogue (事项目录); public, read-only."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from api.deps import session
from api.errors import not_found
from api.schemas import DepartmentOut, ItemOut
from core.models import Department, ServiceItem

router = APIRouter(prefix="/items", tags=["items"])


async def _department_names(db: AsyncSession) -> dict[str, str]:
    return dict((await db.exec(select(Department.code, Department.name))).all())


def _item_out(item: ServiceItem, names: dict[str, str]) -> ItemOut:
    return ItemOut(
        **item.model_dump(exclude={"departments"}),
        departments=[DepartmentOut(code=c, name=names.get(c, c)) for c in item.departments],
    )


async def load_item(db: AsyncSession, code: str) -> ItemOut | None:
    item = await db.get(ServiceItem, code)
    return _item_out(item, await _department_names(db)) if item else None


@router.get("", response_model=list[ItemOut])
async def list_items(db: AsyncSession = Depends(session)) -> list[ItemOut]:
    items = (await db.exec(select(ServiceItem).order_by(ServiceItem.code))).all()
    names = await _department_names(db)
    return [_item_out(item, names) for item in items]


@router.get("/{code}", response_model=ItemOut)
async def get_item(code: str, db: AsyncSession = Depends(session)) -> ItemOut:
    item = await load_item(db, code)
    if item is None:
        raise not_found("事项", "item_not_found")
    return item
