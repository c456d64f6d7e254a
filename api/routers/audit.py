"""Reading the audit log (supervisors)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlmodel import col, select

from api.deps import Db, require_roles
from api.schemas import AuditOut, IsoDateTime
from core.models import AuditEntry
from core.security import Principal
from core.types import Role

router = APIRouter(prefix="/audit", tags=["audit"])


@router.get("", response_model=list[AuditOut])
async def audit_log(
    db: Db,
    _: Annotated[Principal, Depends(require_roles(Role.SUPERVISOR))],
    username: str | None = None,
    path_prefix: str | None = None,
    since: IsoDateTime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AuditOut]:
    query = select(AuditEntry).order_by(col(AuditEntry.id).desc()).limit(limit)
    if username is not None:
        query = query.where(AuditEntry.username == username)
    if path_prefix is not None:
        query = query.where(col(AuditEntry.path).startswith(path_prefix))
    if since is not None:
        query = query.where(col(AuditEntry.at) >= since)
    return [AuditOut.model_validate(e, from_attributes=True) for e in (await db.exec(query)).all()]
