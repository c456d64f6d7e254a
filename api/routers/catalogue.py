"""Catalogue management (事项目录管理) for operators: items, guide versions, district variants.

A guide version is edited as a draft, validated, and published with an effective time;
a published version never changes again. A district variant holds only the localizable
elements (place, hours, contacts) and overlays whichever city version is in force.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from api.deps import Db, Operator
from api.errors import ApiError, found, not_found
from api.routers.items import department_names
from api.schemas import (
    MAX_INT,
    DiffOut,
    DistrictVariantOut,
    ItemCreate,
    PublishIn,
    ValidationOut,
    VersionOut,
    VersionSummary,
)
from core import guides
from core.catalogue import GuideContent, GuideStatus
from core.guide_elements import BY_KEY, LOCAL_KEYS
from core.models import DistrictGuide, GuideVersion, ServiceItem
from core.types import DISTRICTS

router = APIRouter(prefix="/catalogue/items", tags=["catalogue"])

Version = Annotated[int, Path(ge=1, le=MAX_INT)]

# Clock skew tolerated when an operator publishes "now" with an explicit time.
_PAST_TOLERANCE = timedelta(minutes=1)


def _now() -> datetime:
    return datetime.now(UTC)


async def _versions(db: AsyncSession, code: str) -> list[GuideVersion]:
    query = select(GuideVersion).where(GuideVersion.item_code == code).order_by(GuideVersion.version)
    return list((await db.exec(query)).all())


async def _lock_item(db: AsyncSession, code: str) -> ServiceItem:
    """Serialize version changes of one item (new draft, publish) on its catalogue row."""
    query = select(ServiceItem).where(ServiceItem.code == code).with_for_update()
    return found((await db.exec(query)).first(), "事项", "item_not_found")


async def _version(db: AsyncSession, code: str, version: int) -> GuideVersion:
    return found(await db.get(GuideVersion, (code, version)), "指南版本", "version_not_found")


async def _in_force_version(db: AsyncSession, code: str) -> int | None:
    row = await guides.in_force(db, code, _now())
    return row.version if row else None


def _summary(row: GuideVersion, in_force: int | None) -> VersionSummary:
    return VersionSummary(
        code=row.item_code,
        in_force=row.version == in_force,
        **row.model_dump(exclude={"item_code", "content", "created_at"}),
    )


def _full(row: GuideVersion, in_force: int | None) -> VersionOut:
    content = GuideContent.model_validate(row.content)
    return VersionOut(
        **_summary(row, in_force).model_dump(),
        content=content,
        elements=guides.elements(row.item_code, content),
    )


def _draft_row(code: str, version: int, content: GuideContent, who: str) -> GuideVersion:
    now = _now()
    return GuideVersion(
        item_code=code,
        version=version,
        status=GuideStatus.DRAFT.value,
        content=content.model_dump(mode="json"),
        created_at=now,
        created_by=who,
        updated_at=now,
    )


@router.post("", status_code=201, response_model=VersionOut)
async def create_item(body: ItemCreate, db: Db, operator: Operator) -> VersionOut:
    """A new catalogue item, with its first guide version as a draft."""
    inserted = await db.exec(
        insert(ServiceItem)
        .values(code=body.code, created_at=_now())
        .on_conflict_do_nothing()
        .returning(ServiceItem.code)
    )
    if inserted.first() is None:
        raise ApiError(409, "item_exists", f"事项编码已存在：{body.code}")
    row = _draft_row(body.code, 1, body.content, operator.username)
    db.add(row)
    await db.commit()
    return _full(row, None)


@router.get("/{code}/versions", response_model=list[VersionSummary])
async def list_versions(code: str, db: Db, _: Operator) -> list[VersionSummary]:
    if await db.get(ServiceItem, code) is None:
        raise not_found("事项", "item_not_found")
    in_force = await _in_force_version(db, code)
    return [_summary(r, in_force) for r in await _versions(db, code)]


@router.post("/{code}/versions", status_code=201, response_model=VersionOut)
async def new_draft(code: str, db: Db, operator: Operator) -> VersionOut:
    """Start the next version as a draft, copied from the newest version."""
    await _lock_item(db, code)
    versions = await _versions(db, code)
    if any(v.status == GuideStatus.DRAFT for v in versions):
        draft = next(v for v in versions if v.status == GuideStatus.DRAFT)
        raise ApiError(409, "draft_exists", f"该事项已有草稿版本（第{draft.version}版），请先编辑或发布它")
    latest = GuideContent.model_validate(versions[-1].content) if versions else GuideContent()
    row = _draft_row(code, (versions[-1].version if versions else 0) + 1, latest, operator.username)
    db.add(row)
    await db.commit()
    return _full(row, await _in_force_version(db, code))


@router.get("/{code}/versions/{version}", response_model=VersionOut)
async def get_version(code: str, version: Version, db: Db, _: Operator) -> VersionOut:
    return _full(await _version(db, code, version), await _in_force_version(db, code))


@router.patch("/{code}/versions/{version}", response_model=VersionOut)
async def edit_draft(
    code: str, version: Version, body: GuideContent, db: Db, operator: Operator
) -> VersionOut:
    """Change some fields of a draft (fields not sent stay as they are)."""
    await _lock_item(db, code)  # not while it is being published
    row = await _version(db, code, version)
    if row.status != GuideStatus.DRAFT:
        raise ApiError(409, "version_published", f"第{version}版已发布，已发布的版本不可修改，请新建草稿")
    merged = GuideContent.model_validate({**row.content, **body.model_dump(mode="json", exclude_unset=True)})
    row.content = merged.model_dump(mode="json")
    row.updated_at = _now()
    db.add(row)
    await db.commit()
    return _full(row, await _in_force_version(db, code))


@router.post("/{code}/versions/{version}/validation", response_model=ValidationOut)
async def validate_version(code: str, version: Version, db: Db, _: Operator) -> ValidationOut:
    row = await _version(db, code, version)
    problems = guides.validate(code, GuideContent.model_validate(row.content), await department_names(db))
    return ValidationOut(code=code, version=version, valid=not problems, problems=problems)


@router.post("/{code}/versions/{version}/publish", response_model=VersionOut)
async def publish(
    code: str, version: Version, db: Db, operator: Operator, body: PublishIn | None = None
) -> VersionOut:
    """Publish a valid draft; it takes effect at `effective_from` (default: now) for every
    channel and every district at once."""
    await _lock_item(db, code)
    row = await _version(db, code, version)
    if row.status != GuideStatus.DRAFT:
        raise ApiError(409, "version_published", f"第{version}版已发布，不能重复发布")
    now = _now()
    effective = body.effective_from if body and body.effective_from else now
    if effective.tzinfo is None:
        raise ApiError(422, "effective_from_naive", "生效时间须带时区，例如 2026-12-01T00:00:00+08:00")
    if effective < now - _PAST_TOLERANCE:
        raise ApiError(422, "effective_from_past", "生效时间不能早于当前时间")
    later = [
        v
        for v in await _versions(db, code)
        if v.status == GuideStatus.PUBLISHED and v.effective_from and v.effective_from > effective
    ]
    if later:
        raise ApiError(
            422,
            "effective_from_before_previous",
            f"生效时间不能早于已发布的第{later[-1].version}版的生效时间",
        )
    content = GuideContent.model_validate(row.content)
    problems = guides.validate(code, content, await department_names(db))
    if problems:
        first = problems[0]
        raise ApiError(
            422,
            "guide_invalid",
            f"办事指南未通过校验，不能发布：{first.message}"
            + (f"等{len(problems)}项问题" if len(problems) > 1 else ""),
            [p.model_dump() for p in problems],
        )
    row.status = GuideStatus.PUBLISHED.value
    row.effective_from = max(effective, now)
    row.published_at = now
    row.published_by = operator.username
    row.content_hash = guides.content_hash(content)
    row.updated_at = now
    db.add(row)
    await db.commit()
    return _full(row, await _in_force_version(db, code))


@router.get("/{code}/diff", response_model=DiffOut)
async def diff_versions(
    code: str,
    db: Db,
    _: Operator,
    from_version: Annotated[int, Query(alias="from", ge=1, le=MAX_INT)],
    to_version: Annotated[int, Query(alias="to", ge=1, le=MAX_INT)],
) -> DiffOut:
    """What changed from one version to another, element by element."""
    before = GuideContent.model_validate((await _version(db, code, from_version)).content)
    after = GuideContent.model_validate((await _version(db, code, to_version)).content)
    changes = guides.diff(code, before, after)
    return DiffOut(code=code, from_version=from_version, to_version=to_version, changes=changes)


# ---- district variants ------------------------------------------------------------------------


def _district_out(row: DistrictGuide) -> DistrictVariantOut:
    return DistrictVariantOut(
        code=row.item_code,
        district=row.district,
        district_name=DISTRICTS[row.district],
        localized=row.localized,
        updated_at=row.updated_at,
        updated_by=row.updated_by,
    )


def _check_localizable(body: dict[str, Any]) -> dict[str, str]:
    for key, value in body.items():
        element = BY_KEY.get(key)
        if element is None:
            raise ApiError(422, "unknown_element", f"办事指南没有该要素：{key}", {"element": key})
        if key not in LOCAL_KEYS:
            raise ApiError(
                422,
                "basic_element_not_localizable",
                f"“{element.label}”是基本要素，全市统一，区级不得修改；区级只能调整办理地点、办理时间和咨询、投诉方式",
                {"element": key, "label": element.label, "localizable": list(LOCAL_KEYS)},
            )
        if not isinstance(value, str) or not value.strip() or len(value) > 500:
            raise ApiError(
                422, "invalid_local_value", f"“{element.label}”须为不超过500字的文字", {"element": key}
            )
    return {k: v.strip() for k, v in body.items()}


@router.put("/{code}/districts/{district}", response_model=DistrictVariantOut)
async def put_district_variant(
    code: str, district: str, db: Db, operator: Operator, body: Annotated[dict[str, Any], Body()]
) -> DistrictVariantOut:
    """Set a district's localized elements (place, hours, consultation, complaint) — nothing else."""
    if district not in DISTRICTS:
        raise ApiError(422, "unknown_district", f"未知的办理区域：{district}")
    if await db.get(ServiceItem, code) is None:
        raise not_found("事项", "item_not_found")
    localized = _check_localizable(body)
    now = _now()
    stmt = insert(DistrictGuide).values(
        item_code=code, district=district, localized=localized, updated_at=now, updated_by=operator.username
    )
    await db.exec(
        stmt.on_conflict_do_update(
            index_elements=["item_code", "district"],
            set_={"localized": localized, "updated_at": now, "updated_by": operator.username},
        )
    )
    await db.commit()
    row = await db.get(DistrictGuide, (code, district), populate_existing=True)
    return _district_out(row)


@router.get("/{code}/districts", response_model=list[DistrictVariantOut])
async def list_district_variants(code: str, db: Db, _: Operator) -> list[DistrictVariantOut]:
    query = select(DistrictGuide).where(DistrictGuide.item_code == code).order_by(DistrictGuide.district)
    return [_district_out(r) for r in (await db.exec(query)).all()]
