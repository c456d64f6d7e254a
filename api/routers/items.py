"""The service item catalogue (事项目录) and its published guides; public, read-only.

Everything here is served from the guide version in force, so the online hall, the window,
the mobile app and the kiosk all read the same published content at the same moment.
"""

from __future__ import annotations

import hashlib
import io
from datetime import UTC, datetime
from typing import Annotated

import segno
from fastapi import APIRouter, Header, Query, Request, Response
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from api.deps import Db
from api.errors import ApiError, found, not_found
from api.schemas import MAX_INT, DepartmentOut, GuideOut, GuideSettingsOut, ItemOut
from core import guides
from core.catalogue import GuideChannel, GuideContent, GuideStatus
from core.flowchart import flowchart_svg
from core.models import Department, GuideVersion
from core.types import DISTRICTS

router = APIRouter(prefix="/items", tags=["items"])

IfNoneMatch = Annotated[str | None, Header()]


async def department_names(db: AsyncSession) -> dict[str, str]:
    return dict((await db.exec(select(Department.code, Department.name))).all())


def _item_out(row: GuideVersion, names: dict[str, str]) -> ItemOut:
    snap = guides.snapshot(row.item_code, row.version, GuideContent.model_validate(row.content), names)
    return ItemOut.model_validate(snap.model_dump())


async def load_item(db: AsyncSession, code: str) -> ItemOut | None:
    """The item as its guide version in force states it (what a new case is bound to)."""
    row = await guides.in_force(db, code, datetime.now(UTC))
    return _item_out(row, await department_names(db)) if row else None


@router.get("", response_model=list[ItemOut])
async def list_items(db: Db) -> list[ItemOut]:
    rows = await guides.all_in_force(db, datetime.now(UTC))
    names = await department_names(db)
    return [_item_out(row, names) for row in rows]


@router.get("/{code}", response_model=ItemOut)
async def get_item(code: str, db: Db) -> ItemOut:
    return found(await load_item(db, code), "事项", "item_not_found")


async def published_guide(
    db: AsyncSession, code: str, district: str | None, version: int | None = None
) -> tuple[GuideVersion, GuideContent]:
    """The published guide (in force, or a given published version), overlaid for a district."""
    if district is not None and district not in DISTRICTS:
        raise ApiError(422, "unknown_district", f"未知的办理区域：{district}")
    if version is None:
        row = await guides.in_force(db, code, datetime.now(UTC))
    else:
        row = await db.get(GuideVersion, (code, version))
        if row is not None and row.status != GuideStatus.PUBLISHED:
            row = None
    if row is None:
        raise not_found("事项办事指南", "guide_not_found")
    content = GuideContent.model_validate(row.content)
    if district is not None:
        content = guides.overlay(content, await guides.district_localized(db, code, district))
    return row, content


def guide_out(
    row: GuideVersion, content: GuideContent, district: str | None, names: dict[str, str]
) -> GuideOut:
    return GuideOut(
        code=row.item_code,
        version=row.version,
        effective_from=row.effective_from,
        district=district,
        district_name=DISTRICTS.get(district) if district else None,
        elements=guides.elements(row.item_code, content),
        settings=GuideSettingsOut(
            signature_mode=content.signature_mode,
            departments=[DepartmentOut(code=d, name=names.get(d, d)) for d in content.departments or []],
        ),
    )


def etag_of(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def conditional(body: bytes, media_type: str, if_none_match: str | None) -> Response:
    """A strong ETag over the exact bytes; a matching If-None-Match gets 304 with no body."""
    etag = etag_of(body)
    headers = {"ETag": etag, "Cache-Control": "no-cache", "Content-Language": "zh-CN"}
    if if_none_match is not None:
        candidates = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
        if etag in candidates or "*" in candidates:
            return Response(status_code=304, headers=headers)
    return Response(content=body, media_type=media_type, headers=headers)


@router.get("/{code}/guide", response_model=GuideOut, responses={304: {"description": "未变化"}})
async def get_guide(
    code: str,
    db: Db,
    district: str | None = None,
    channel: Annotated[GuideChannel | None, Query(description="online / window / mobile / kiosk")] = None,
    version: Annotated[int | None, Query(ge=1, le=MAX_INT)] = None,
    if_none_match: IfNoneMatch = None,
) -> Response:
    """办事指南: identical content for every channel (the channel never changes the content)."""
    row, content = await published_guide(db, code, district, version)
    out = guide_out(row, content, district, await department_names(db))
    body = guides.canonical_json(out.model_dump(mode="json"), sort_keys=False)
    return conditional(body, "application/json", if_none_match)


@router.get(
    "/{code}/flowchart.svg", response_class=Response, responses={200: {"content": {"image/svg+xml": {}}}}
)
async def get_flowchart(
    code: str,
    db: Db,
    version: Annotated[int | None, Query(ge=1, le=MAX_INT)] = None,
    if_none_match: IfNoneMatch = None,
) -> Response:
    """办理流程图, drawn from the process steps of the published guide."""
    row, content = await published_guide(db, code, None, version)
    svg = flowchart_svg(content.name or code, content.process or [], await department_names(db))
    return conditional(svg.encode(), "image/svg+xml", if_none_match)


def guide_page_url(request: Request, code: str, district: str | None) -> str:
    url = str(request.url_for("guide_page", code=code))
    return f"{url}?district={district}" if district else url


def qr_png(url: str) -> bytes:
    buffer = io.BytesIO()
    segno.make(url, error="m").save(buffer, kind="png", scale=8, border=4)
    return buffer.getvalue()


@router.get("/{code}/qr.png", response_class=Response, responses={200: {"content": {"image/png": {}}}})
async def get_qr(
    code: str, request: Request, db: Db, district: str | None = None, if_none_match: IfNoneMatch = None
) -> Response:
    """A QR code that opens the item's public guide page (for the district, if given)."""
    await published_guide(db, code, district)
    return conditional(qr_png(guide_page_url(request, code, district)), "image/png", if_none_match)
