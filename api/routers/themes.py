"""Themed services (主题服务, "办好一件事"): the list, one merged form each, and their definition.

Reading is public, like the catalogue; defining or redefining a theme is for operators, and a
theme with a dependency cycle or a member outside the published catalogue is refused.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from api.deps import Db, Operator
from api.errors import ApiError, found
from api.routers.items import department_names
from api.schemas import THEME_CODE_PATTERN, ThemeOut
from core import guides, themes
from core.catalogue import (
    GuideContent,
    ItemSnapshot,
    ThemeDefinition,
    ThemeForm,
    ThemeMemberSnapshot,
    ThemeSnapshot,
)
from core.models import Theme

router = APIRouter(prefix="/themes", tags=["themes"])

ThemeCode = Annotated[str, Path(pattern=THEME_CODE_PATTERN)]


@router.get("", response_model=list[ThemeOut])
async def list_themes(db: Db) -> list[ThemeOut]:
    rows = (await db.exec(select(Theme).order_by(Theme.code))).all()
    return [_out(row) for row in rows]


@router.get("/{code}", response_model=ThemeOut)
async def get_theme(code: ThemeCode, db: Db) -> ThemeOut:
    return _out(await _load(db, code))


@router.get("/{code}/form", response_model=ThemeForm)
async def get_theme_form(code: ThemeCode, db: Db) -> ThemeForm:
    """填一表: every field and material of the members, each asked once."""
    return themes.merged_form(await theme_snapshot(db, code))


@router.put("/{code}", response_model=ThemeOut)
async def define_theme(
    code: ThemeCode,
    body: ThemeDefinition,
    db: Db,
    principal: Operator,
) -> ThemeOut:
    problems = themes.validate(body, await items_in_force(db), set(await department_names(db)))
    if problems:
        raise ApiError(
            422, "theme_invalid", "主题定义有误：" + "；".join(p["message"] for p in problems), problems
        )
    row = {"code": code, "name": body.name, "definition": body.model_dump(mode="json")}
    stmt = insert(Theme).values(**row, updated_at=datetime.now(UTC), updated_by=principal.username)
    latest = {**row, "updated_at": stmt.excluded.updated_at, "updated_by": stmt.excluded.updated_by}
    await db.exec(stmt.on_conflict_do_update(index_elements=["code"], set_=latest))
    await db.commit()
    return _out(await _load(db, code))


async def items_in_force(db: AsyncSession) -> dict[str, ItemSnapshot]:
    names = await department_names(db)
    rows = await guides.all_in_force(db, datetime.now(UTC))
    return {
        r.item_code: guides.snapshot(r.item_code, r.version, GuideContent.model_validate(r.content), names)
        for r in rows
    }


async def theme_snapshot(db: AsyncSession, code: str) -> ThemeSnapshot:
    """The theme with each member's item as in force now (what a new bundle is bound to)."""
    theme = ThemeDefinition.model_validate((await _load(db, code)).definition)
    items = await items_in_force(db)
    missing = [m.item_code for m in theme.members if m.item_code not in items]
    if missing:
        raise ApiError(409, "theme_unavailable", f"主题中的事项暂未发布，暂不能申请：{'、'.join(missing)}")
    members = [ThemeMemberSnapshot(key=m.key, item=items[m.item_code], needs=m.needs) for m in theme.members]
    return ThemeSnapshot(code=code, name=theme.name, lead_department=theme.lead_department, members=members)


async def _load(db: AsyncSession, code: str) -> Theme:
    return found(await db.get(Theme, code), "主题", "theme_not_found")


def _out(row: Theme) -> ThemeOut:
    return ThemeOut(code=row.code, **ThemeDefinition.model_validate(row.definition).model_dump())
