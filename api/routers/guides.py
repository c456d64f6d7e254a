"""The public guide page (`/guides/{code}`): what a citizen sees after scanning the QR code."""

from __future__ import annotations

from html import escape
from typing import Annotated

from fastapi import APIRouter, Header
from fastapi.responses import HTMLResponse, Response

from api.deps import Db
from api.errors import ApiError
from api.routers.items import conditional, department_names, guide_out, published_guide
from core.flowchart import flowchart_svg
from core.guide_html import guide_page as render

router = APIRouter(tags=["guides"])

_ERROR_HEAD = '<!DOCTYPE html><html lang="zh-CN"><meta charset="utf-8"><title>办事指南</title>'


_HTML_ERROR = {"description": "错误页（HTML）", "content": {"text/html": {"schema": {"type": "string"}}}}


@router.get(
    "/guides/{code}",
    response_class=HTMLResponse,
    name="guide_page",
    responses={304: {"description": "未变化"}, "4XX": _HTML_ERROR},
)
async def guide_page(
    code: str,
    db: Db,
    district: str | None = None,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    try:
        row, content = await published_guide(db, code, district)
    except ApiError as exc:
        page = f"{_ERROR_HEAD}<p>{escape(exc.message)}</p>"
        return HTMLResponse(page, status_code=exc.status)
    names = await department_names(db)
    guide = guide_out(row, content, district, names).model_dump(mode="json")
    svg = flowchart_svg(content.name or code, content.process or [], names)
    return conditional(render(guide, svg, names).encode(), "text/html; charset=utf-8", if_none_match)
